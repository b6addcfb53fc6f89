"""Pre-training of the built-in `tiny-llama-base`: the stand-in for a foundation model in the SFT-vs-RL study.

The paper post-trains Llama-3.2-Vision-11B, which already knows card arithmetic and reads whatever rule the
prompt states; its SFT initialisation scores 11.5% on GP-L rule-OOD (J/Q/K = 11/12/13) before any RL or more
SFT. The plain `tiny-llama` has random weights: an init SFT-ed from it has only ever seen "J, Q, K count as 10"
and scores 0% on rule-OOD, so post-training has nothing to keep or lose there. `tiny-llama-base` is the same
architecture and tokenizer, pre-trained once at build time on a broad GeneralPoints corpus:

- both face-card rules (J/Q/K as 10, and as 11/12/13 with a face card in every hand, as the rule-OOD split
  deals) and several targets (`FoundationRecipe.targets`), the rule and the target stated in the prompt
  exactly as the GP-L prompt states them (`envs.general_points.prompts`), so the rule must be read, not
  assumed;
- answers from the solver (`envs.general_points.sft_data.generate_records`); a share of the records first
  show wrong attempts and the verifier's message (the feedback turn of a 5-attempt episode), and the loss
  covers the final, correct answer only, so a wrong attempt is never learnt as an answer.

Why a small loop here rather than `trainers.sft.train.train_sft`: the built-in is built lazily, inside
whichever command first asks for it (`sft`, `ppo`, `eval`, a test). `train_sft` reads a data file, takes the
CLI's `SFTConfig`, creates an accelerate `Accelerator` (process-wide state that a PPO run also owns) and
calls `set_seed`, which reseeds Python's, numpy's and torch's global generators: the calling command's random
stream would differ depending on whether the model was already cached. This loop keeps all its randomness in
its own generators and reuses the SFT trainer's parts that have no side effects (`epoch_order`, `lr_lambda`,
`encode_conversation`, `collate`). Deterministic: the same recipe gives the same weights.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECORD_FILE = "foundation_pretraining.json"


@dataclass(frozen=True)
class FoundationRecipe:
    targets: tuple[int, ...] = (12, 18, 24, 36)
    records_per_setting: int = 2000
    """Records per (face-card rule, target) pair: 2 rules x 4 targets x 2000 = 16000 conversations, a little
    more than the steps consume, so hardly any record is seen twice."""
    multi_turn_share: float = 0.2
    """Share of records that open with 1 or 2 wrong attempts, each followed by the verifier's message."""
    steps: int = 1200
    batch_size: int = 16
    learning_rate: float = 1e-3
    """Batch and learning rate of the project's tiny SFT init (`trainers.ppo.init_model.TinyInitRecipe`)."""
    warmup_steps: int = 30
    seed: int = 0


DEFAULT_RECIPE = FoundationRecipe()


def settings(recipe: FoundationRecipe) -> list[tuple[bool, int]]:
    """(treat_face_cards_as_10, target) for every rule and target of the corpus."""
    return [(face_as_10, target) for face_as_10 in (True, False) for target in recipe.targets]


def corpus_records(recipe: FoundationRecipe) -> list:
    """The pre-training conversations (`SFTRecord`s), the same for the same recipe."""
    from envs.general_points.config import GeneralPointsConfig
    from envs.general_points.sft_data import GPDataSpec, generate_records

    records = []
    for index, (face_as_10, target) in enumerate(settings(recipe)):
        # The ordinal rule deals a face card in every hand (as the rule-OOD split does); without one the two
        # rules give the same numbers and the record would not exercise the rule at all.
        env = GeneralPointsConfig(target_points=target, treat_face_cards_as_10=face_as_10, ood=not face_as_10,
                                  language_only=True, verify_iter=3)
        multi = int(round(recipe.records_per_setting * recipe.multi_turn_share))
        seed = recipe.seed * 1000 + 10 * index
        records += generate_records(GPDataSpec(num=recipe.records_per_setting - multi, seed=seed, env=env), None)
        records += generate_records(GPDataSpec(num=multi, seed=seed + 1, env=env, multi_turn=True,
                                               max_wrong_attempts=2, wrong_number_share=0.5), None)
    return records


def encode_records(loaded, records: list) -> list[dict[str, Any]]:
    """Token ids and labels per record; only the last assistant turn carries labels."""
    from trainers.models.chat import IGNORE_INDEX, encode_conversation

    examples = []
    for record in records:
        messages = [{"role": role, "content": text} for role, text in record.turns]
        example = encode_conversation(loaded, messages, with_labels=True)
        context = encode_conversation(loaded, messages[:-1], add_generation_prompt=True)
        example["labels"][: context["input_ids"].shape[0]] = IGNORE_INDEX
        examples.append(example)
    return examples


def _load(folder: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainers.models.loader import LoadedModel

    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return LoadedModel(model, tokenizer, tokenizer, False, model.device, str(folder), str(folder))


def _train(loaded, examples: list[dict[str, Any]], recipe: FoundationRecipe) -> dict[str, Any]:
    import torch

    from trainers.models.chat import collate
    from trainers.sft.batches import epoch_order
    from trainers.sft.setup import lr_lambda

    model = loaded.model
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.learning_rate, betas=(0.9, 0.98), eps=1e-7,
                                  weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda("cosine", recipe.warmup_steps, recipe.steps))
    per_epoch = len(examples) // recipe.batch_size
    if per_epoch == 0:
        raise ValueError(f"{len(examples)} pre-training records are fewer than one batch of {recipe.batch_size}")
    tokens, losses = 0, []
    lengths = [example["input_ids"].shape[0] for example in examples]
    order: list[int] = []
    for step in range(recipe.steps):
        epoch, in_epoch = divmod(step, per_epoch)
        if in_epoch == 0:  # similar lengths batched together: less padding, the same records
            order = epoch_order(len(examples), epoch, recipe.seed, lengths, 8 * recipe.batch_size)
        indices = order[in_epoch * recipe.batch_size:(in_epoch + 1) * recipe.batch_size]
        batch = collate(loaded, [examples[i] for i in indices], "right")
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += int(batch["attention_mask"].sum())
        losses.append(loss.item())
    model.train(False)
    parameters = sum(p.numel() for p in model.parameters())
    tail = losses[-50:]
    return {"epochs": round(recipe.steps / per_epoch, 3), "first_loss": round(losses[0], 4) if losses else None,
            "final_loss": round(sum(tail) / len(tail), 4) if tail else None, "train_tokens": tokens,
            "train_flops": 6.0 * parameters * tokens}


def pretrain_foundation(folder: Path, recipe: FoundationRecipe | None = None) -> dict[str, Any]:
    """Pre-train the model saved in `folder` (a freshly built `tiny-llama`) in place; returns the summary
    also written to `folder/foundation_pretraining.json` (recipe, corpus size, losses, tokens, FLOPs)."""
    import torch

    recipe = recipe or DEFAULT_RECIPE
    folder = Path(folder)
    started = time.perf_counter()
    loaded = _load(folder)
    records = corpus_records(recipe)
    examples = encode_records(loaded, records)
    # One thread: the same float reductions, hence the same weights, whatever the machine's core count (and
    # a model this small gains little from a second thread on a shared CPU).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trained = _train(loaded, examples, recipe)
    finally:
        torch.set_num_threads(threads)
    summary = {"recipe": dataclasses.asdict(recipe), "records": len(records), **trained}
    loaded.model.save_pretrained(folder)
    loaded.tokenizer.save_pretrained(folder)
    (folder / RECORD_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary
