"""The policy a PPO run starts from: the given model, or the built-in tiny model after its own SFT init.

Like the paper's Init checkpoints (RL starts from an SFT-initialised model; without SFT, "all end-to-end RL runs
fail to improve", section 5.4), `sftvsrl ppo` with no model first fine-tunes the built-in tiny model with
the SFT trainer (`trainers.sft.train.train_sft`, in a child process, loss on each record's final answer) on
expert GP answers (gen-data records of the training rule) and caches the result under
`$SFTVSRL_CACHE_DIR/ppo-init/`; later runs load it. The init is deliberately short so that it answers in the
right format but leaves room for RL (the paper's init checkpoints are early SFT checkpoints too).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from envs.errors import InputError

INIT_VERSION = 4


@dataclasses.dataclass(frozen=True)
class TinyInitRecipe:
    records: int = 2000
    steps: int = 400
    multi_turn_share: float = 0.5
    """Share of records that open with a wrong attempt and the verifier's message (gen-data --multi-turn);
    only their final, correct answer is trained on. Without them the tiny model has never seen a feedback
    turn and degenerates on every retry, which leaves RL's multi-turn episodes nothing to improve."""
    max_wrong_attempts: int = 4
    """Failed attempts before the final answer in a multi-turn record: 1 to this many, whatever the run's
    verify_iter (the cached init does not depend on it)."""
    wrong_number_share: float = 0.5
    """Share of those attempts that use a number not in the hand, the tiny model's most common RL mistake;
    with legal wrong-value attempts only (version 2), it met that verifier message first in RL and its
    retries fell apart (attempt 3: 63 of 90 illegal)."""
    batch_size: int = 16
    learning_rate: float = 1e-3
    seed: int = 0


def tiny_model_for(language_only: bool) -> str:
    return "tiny-llama" if language_only else "tiny-mllama"


def init_folder(model_name: str, env_kwargs: Any, recipe: TinyInitRecipe) -> Path:
    from trainers.models.builtin import VERSIONS, cache_dir

    task = "gp-l" if env_kwargs.language_only else "gp-vl"
    rule = "face10" if env_kwargs.treat_face_cards_as_10 else "ordinal"
    name = (f"{model_name}-b{VERSIONS[model_name]}-{task}-{rule}-t{env_kwargs.target_points}-n{recipe.records}"
            f"-s{recipe.steps}-seed{recipe.seed}-v{INIT_VERSION}")
    return cache_dir() / "ppo-init" / name


def resolve_policy_init(config, output=None) -> tuple[str, float]:
    """(model source, FLOPs of its SFT init): the configured model, or the cached tiny SFT init (built once)."""
    if config.options.model:
        return config.options.model, 0.0
    from envs.registry import env_kwargs, spec_for

    if not spec_for(config.experiment.env_config).builtin_init:
        raise InputError(f"the built-in SFT init covers GeneralPoints only; pass --model for "
                         f"{config.experiment.env_config.get('id')}")
    kwargs = env_kwargs(config.experiment.env_config)
    recipe = TinyInitRecipe(records=config.options.init_sft_records)
    folder = init_folder(tiny_model_for(kwargs.language_only), kwargs, recipe)
    if not (folder / "init.json").is_file():
        if output is not None:
            output.info(f"SFT-initialising {tiny_model_for(kwargs.language_only)} on {recipe.records} expert "
                        f"answers ({recipe.steps} steps; cached in {folder})")
        build_tiny_init(folder, kwargs, recipe)
    meta = json.loads((folder / "init.json").read_text(encoding="utf-8"))
    return str(folder), float(meta["train_flops"])


def build_tiny_init(folder: Path, env_kwargs: Any, recipe: TinyInitRecipe) -> None:
    """Build the init checkpoint into `folder` atomically (safe when several processes race)."""
    from trainers.models.builtin import _file_lock

    folder.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(folder.parent / f".{folder.name}.lock"):
        if (folder / "init.json").is_file():
            return
        staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.building-"))
        try:
            meta = _sft(staging, env_kwargs, recipe)
            (staging / "init.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            os.chmod(staging, 0o755)
            if folder.exists():
                shutil.rmtree(folder)
            os.rename(staging, folder)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def init_records(env_kwargs: Any, recipe: TinyInitRecipe, image_dir: Path | None) -> list:
    """The expert conversations of the init: single answers, then answers after 1 to `max_wrong_attempts`
    failed attempts. Cached per task, not per verify_iter, so the records do not depend on the run's."""
    from envs.general_points.sft_data import GPDataSpec, generate_records

    multi = int(round(recipe.records * recipe.multi_turn_share))
    records = generate_records(GPDataSpec(num=recipe.records - multi, seed=recipe.seed, env=env_kwargs),
                               None if image_dir is None else image_dir / "single")
    retry_env = dataclasses.replace(env_kwargs, verify_iter=recipe.max_wrong_attempts + 1)
    records += generate_records(GPDataSpec(num=multi, seed=recipe.seed + 1, env=retry_env, multi_turn=True,
                                           max_wrong_attempts=recipe.max_wrong_attempts,
                                           wrong_number_share=recipe.wrong_number_share),
                                None if image_dir is None else image_dir / "multi")
    return records


def init_sft_config(recipe: TinyInitRecipe):
    """The SFT trainer's settings for the init: loss on the final answer, AdamW (torch defaults, no weight
    decay), 10 warmup steps then linear decay to 0, gradients clipped at 1.0, fp32."""
    from trainers.config.schema import SFTConfig

    warmup = min(10, recipe.steps // 2)
    return SFTConfig(max_steps=recipe.steps, per_device_batch_size=recipe.batch_size,
                     learning_rate=recipe.learning_rate, loss_on="final", lr_scheduler="linear",
                     warmup_ratio=(warmup - 0.5) / recipe.steps,  # ceil(ratio * steps) == warmup, float-safe
                     adam_beta1=0.9, adam_beta2=0.999, adam_eps=1e-8, weight_decay=0.0, max_grad_norm=1.0,
                     dtype="fp32", gradient_checkpointing=False, save_every=recipe.steps, save_total_limit=1,
                     log_every=recipe.steps)


def _sft(out: Path, env_kwargs: Any, recipe: TinyInitRecipe) -> dict[str, Any]:
    """`train_sft` on `init_records` (written to `out/data` in the llava layout); the trained model's files
    end up in `out` itself. Returns the init's metadata."""
    from envs.sft_records import write_records
    from trainers.sft.isolated import train_sft_isolated

    data_dir, train_dir = out / "data", out / "train"
    records = init_records(env_kwargs, recipe, data_dir)
    write_records(records, data_dir, "llava")
    base = tiny_model_for(env_kwargs.language_only)
    result = train_sft_isolated({"sft": dataclasses.asdict(init_sft_config(recipe)), "model": base,
                              "data": str(data_dir), "output_dir": str(train_dir), "seed": recipe.seed})
    for entry in (train_dir / "final").iterdir():
        os.rename(entry, out / entry.name)
    shutil.rmtree(data_dir)
    shutil.rmtree(train_dir)
    return {"base": base, "recipe": dataclasses.asdict(recipe), "first_loss": result["first_loss"],
            "final_loss": result["last_loss"], "train_tokens": result["tokens"], "train_flops": result["flops"]}
