"""SFT checkpoints: HF-layout weights plus the full training state, written atomically.

`<output_dir>/checkpoint-<step>/` holds the model in the standard HF layout (`from_pretrained` / `load_model`
load it; a LoRA run holds the adapter in peft's layout), the tokenizer or processor, `trainer_state.json`
(step, scheduler, token and FLOP counters, the run's settings) and `state/` (accelerate / DeepSpeed state:
optimizer, per-rank RNG; left out with `save_only_model`, which makes the checkpoint a model to load but not a
run to resume). Everything is written into `.checkpoint-<step>.tmp/` and renamed into place once
every rank has finished, so a folder named `checkpoint-<step>` is always complete.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from envs.errors import CheckpointError

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
STATE_FILE = "trainer_state.json"


def checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints in `output_dir`, oldest first."""
    if not output_dir.is_dir():
        return []
    found = []
    for path in output_dir.iterdir():
        match = _CHECKPOINT.match(path.name)
        if match and (path / STATE_FILE).is_file():
            found.append((int(match.group(1)), path))
    return sorted(found)


def resolve_resume(resume: str | bool | None, output_dir: Path) -> Path | None:
    """`--resume` / "latest" (the latest checkpoint of output_dir; one must exist), "auto" (the latest if any,
    else a fresh start: for requeued jobs) or a checkpoint folder."""
    if not resume:
        return None
    if resume == "auto":
        found = checkpoints(output_dir)
        return found[-1][1] if found else None
    if resume is True or resume == "latest":
        found = checkpoints(output_dir)
        if not found:
            raise FileNotFoundError(f"--resume: no complete checkpoint in {output_dir}")
        return found[-1][1]
    path = Path(str(resume)).expanduser()
    if not (path / STATE_FILE).is_file():
        raise FileNotFoundError(f"--resume: {path} is not a complete checkpoint (no {STATE_FILE})")
    return path


def save_model_files(accelerator, model, processor, folder: Path, *, merge_lora: bool = False) -> None:
    """Write the (unwrapped) model in HF layout plus its processor into `folder` (main process writes)."""
    state_dict = accelerator.get_state_dict(model)
    if not accelerator.is_main_process:
        return
    unwrapped = accelerator.unwrap_model(model)
    if merge_lora and hasattr(unwrapped, "merge_and_unload"):
        unwrapped = unwrapped.merge_and_unload()
        state_dict = None
    unwrapped.save_pretrained(folder, state_dict=state_dict, safe_serialization=True)
    processor.save_pretrained(folder)


def _fsync_dir(path: Path) -> None:
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def save_checkpoint(accelerator, model, processor, output_dir: Path, step: int, trainer_state: dict[str, Any],
                    keep: int | None = None, model_only: bool = False) -> Path:
    final = output_dir / f"checkpoint-{step}"
    staging = output_dir / f".checkpoint-{step}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    accelerator.wait_for_everyone()
    if not model_only:
        accelerator.save_state(str(staging / "state"))
    save_model_files(accelerator, model, processor, staging)
    if accelerator.is_main_process:
        trainer_state = {**trainer_state, "model_only": model_only}
        (staging / STATE_FILE).write_text(json.dumps(trainer_state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        if final.exists():
            shutil.rmtree(final)
        os.rename(staging, final)
        _fsync_dir(output_dir)
        if keep:
            for _, old in checkpoints(output_dir)[:-keep]:
                shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_trainer_state(checkpoint: Path) -> dict[str, Any]:
    return json.loads((checkpoint / STATE_FILE).read_text(encoding="utf-8"))


def load_checkpoint(accelerator, checkpoint: Path) -> dict[str, Any]:
    """Restore the accelerate / DeepSpeed state (model, optimizer, RNG) of `checkpoint`; return its trainer
    state. A truncated, corrupt or foreign file is a `CheckpointError` naming the checkpoint and what to do."""
    try:
        model_only = load_trainer_state(checkpoint).get("model_only", False)
    except (OSError, ValueError, AttributeError):
        model_only = False
    if model_only:
        raise CheckpointError(f"--resume: {checkpoint} was written with --save-only-model (weights only, no optimizer "
                              "or RNG state) and cannot be resumed; fine-tune from its weights with --model "
                              f"{checkpoint} in a new output folder, or start over with --overwrite")
    try:
        accelerator.load_state(str(checkpoint / "state"))
        saved = load_trainer_state(checkpoint)
        if not isinstance(saved, dict) or "scheduler" not in saved:
            raise CheckpointError(f"{STATE_FILE} is not a trainer state")
        return saved
    except Exception as error:  # torch's weights-only unpickler raises anything (IndexError ...) on a bad file
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(f"--resume: checkpoint {checkpoint} is incomplete or corrupt ({type(error).__name__}: "
                              f"{detail[:300]}); resume from an earlier checkpoint with --resume PATH, or start over "
                              "in a new output folder") from error
