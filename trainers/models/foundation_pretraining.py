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

Trained by the SFT trainer (`trainers.sft.train.train_sft`, `loss_on="final"`, lengths grouped) in a child
process (`trainers.sft.isolated`), since the built-in is built lazily inside whichever command first asks for
it: the command's own random streams, accelerator and launcher state stay untouched. Deterministic: the same
recipe gives the same weights (bit-identical to the hand-written loop this replaced, whenever
`warmup_steps <= steps`; a longer warmup is cut to `steps`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
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
    """Token ids and labels per record as the SFT trainer makes them; only the last assistant turn carries
    labels."""
    from trainers.sft.batches import EncodedSFTData
    from trainers.sft.data import SFTExample

    examples = [SFTExample(record.id, [{"role": role, "content": text} for role, text in record.turns])
                for record in records]
    return EncodedSFTData(loaded, examples, 1 << 20, "foundation corpus", loss_on="final").text


def _load(folder: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from trainers.models.loader import LoadedModel

    model = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return LoadedModel(model, tokenizer, tokenizer, False, model.device, str(folder), str(folder))


def sft_config(recipe: FoundationRecipe):
    """The SFT trainer's settings: AdamW (0.9, 0.98, eps 1e-7, no weight decay), warmup then cosine, gradients
    clipped at 1.0, fp32, batches of similar lengths (groups of 8 batches)."""
    from trainers.config.schema import SFTConfig

    warmup = min(recipe.warmup_steps, recipe.steps)
    return SFTConfig(max_steps=recipe.steps, per_device_batch_size=recipe.batch_size,
                     learning_rate=recipe.learning_rate, loss_on="final", lr_scheduler="cosine",
                     warmup_ratio=(warmup - 0.5) / recipe.steps,  # ceil(ratio * steps) == warmup, float-safe
                     adam_beta1=0.9, adam_beta2=0.98, adam_eps=1e-7, weight_decay=0.0, max_grad_norm=1.0,
                     dtype="fp32", gradient_checkpointing=False, group_by_length=True, save_every=recipe.steps,
                     save_total_limit=1, log_every=1)


def _train(folder: Path, records: list, recipe: FoundationRecipe) -> dict[str, Any]:
    """`train_sft` on `records` from the model in `folder`; the trained model's files replace it there."""
    from envs.sft_records import write_records
    from trainers.sft.isolated import train_sft_isolated
    from trainers.sft.train import LOG_FILE

    work = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.pretraining-"))
    try:
        write_records(records, work / "data", "llava")
        result = train_sft_isolated({"sft": dataclasses.asdict(sft_config(recipe)), "model": str(folder),
                                     "data": str(work / "data"), "output_dir": str(work / "train"),
                                     "seed": recipe.seed})
        losses = [json.loads(line)["loss"] for line in (work / "train" / LOG_FILE).read_text().splitlines()]
        for entry in (work / "train" / "final").iterdir():
            if entry.name != "sft_summary.json":
                os.replace(entry, folder / entry.name)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    per_epoch = len(records) // recipe.batch_size
    tail = losses[-50:]
    return {"epochs": round(recipe.steps / per_epoch, 3), "first_loss": round(losses[0], 4) if losses else None,
            "final_loss": round(sum(tail) / len(tail), 4) if tail else None, "train_tokens": result["tokens"],
            "train_flops": result["flops"]}


def pretrain_foundation(folder: Path, recipe: FoundationRecipe | None = None) -> dict[str, Any]:
    """Pre-train the model saved in `folder` (a freshly built `tiny-llama`) in place; returns the summary
    also written to `folder/foundation_pretraining.json` (recipe, corpus size, losses, tokens, FLOPs)."""
    recipe = recipe or DEFAULT_RECIPE
    folder = Path(folder)
    started = time.perf_counter()
    records = corpus_records(recipe)
    if len(records) < recipe.batch_size:
        raise ValueError(f"{len(records)} pre-training records are fewer than one batch of {recipe.batch_size}")
    summary = {"recipe": dataclasses.asdict(recipe), "records": len(records), **_train(folder, records, recipe)}
    (folder / RECORD_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    summary["seconds"] = round(time.perf_counter() - started, 1)
    return summary
