"""Atomic, resumable PPO checkpoints.

`<output_dir>/checkpoints/update_<N>/` holds the policy in HF layout (`policy/`, loadable with
`from_pretrained`, tokenizer/processor included), `value_head.pt`, the optimiser (`optimizer.pt`, or
`deepspeed/` with ZeRO shards), `scheduler.pt`, `trainer_state.json` (counters, compute ledger), and per rank
`rng_rank<R>.pt` (torch/numpy/python RNG and the shuffling generator, as tensors and numbers) and
`episodes_rank<R>.json` (the environment seed stream and the episodes in flight, as JSON). Resuming reads only
data (`safe_files`): no file of a checkpoint can run code. Everything is written into a temporary folder that is renamed into place only once complete, with
a `COMPLETE` marker written last; a crash mid-save leaves a temporary folder that is never loaded.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from envs.errors import CheckpointError
from trainers.ppo.safe_files import load_json_file, load_tensor_file, save_json_file

COMPLETE = "COMPLETE"


def checkpoint_root(output_dir: str | Path) -> Path:
    return Path(output_dir) / "checkpoints"


def checkpoint_name(update: int) -> str:
    return f"update_{update:06d}"


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The complete checkpoint with the highest update number, or None."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return None
    complete = [p for p in root.glob("update_*") if p.is_dir() and "." not in p.name and (p / COMPLETE).is_file()]
    return max(complete, key=lambda p: int(p.name.split("_")[1]), default=None)


RNG_FORMAT = 2
"""rng_rank<R>.pt layout; format 1 (before safe checkpoints) pickled numpy arrays and whole environments."""


def rng_state(extra: dict[str, Any]) -> dict[str, Any]:
    """This process's RNG states as tensors and plain numbers (loadable with weights_only=True)."""
    kind, key, position, has_gauss, cached_gaussian = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {"format": RNG_FORMAT, "torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "key": torch.from_numpy(key.astype(np.int64)), "position": int(position),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
             "python": [version, list(internal), gauss], **extra}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    legacy = state["numpy"]
    np.random.set_state((legacy["kind"], legacy["key"].numpy().astype(np.uint32), legacy["position"],
                         legacy["has_gauss"], legacy["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(output_dir: str | Path, update: int, *, engine, loaded, value_head: torch.nn.Module,
                    scheduler, trainer_state: dict[str, Any], rank_state: dict[str, Any],
                    worker_state: dict[str, Any], config_text: str) -> Path:
    """Write checkpoint `update` collectively (every rank calls this); returns its final folder."""
    root = checkpoint_root(output_dir)
    final = root / checkpoint_name(update)
    staging = root / f"{checkpoint_name(update)}.tmp"
    if engine.rank == 0:
        for leftover in root.glob("update_*.tmp"):
            shutil.rmtree(leftover, ignore_errors=True)
        staging.mkdir(parents=True)
    engine.barrier()
    engine.save(staging)
    torch.save(rng_state(rank_state), staging / f"rng_rank{engine.rank}.pt")
    save_json_file(staging / f"episodes_rank{engine.rank}.json", worker_state)
    with engine.full_weights():  # collective: ZeRO-3 gathers the shards; a no-op otherwise
        if engine.rank == 0:
            engine.module.backbone.save_pretrained(staging / "policy")
            torch.save(value_head.state_dict(), staging / "value_head.pt")
    if engine.rank == 0:
        loaded.processor.save_pretrained(staging / "policy")
        torch.save(scheduler.state_dict(), staging / "scheduler.pt")
        save_json_file(staging / "trainer_state.json", trainer_state, indent=2)
        (staging / "config.yaml").write_text(config_text, encoding="utf-8")
    engine.barrier()
    if engine.rank == 0:
        (staging / COMPLETE).write_text(str(update) + "\n")
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    engine.barrier()
    return final


def prune_checkpoints(output_dir: str | Path, keep: Path) -> None:
    """Remove every complete checkpoint but `keep` (the published `save_ckpt: false`: only what --resume needs)."""
    for older in checkpoint_root(output_dir).glob("update_*"):
        if older != keep and older.is_dir() and "." not in older.name:
            shutil.rmtree(older)


def load_trainer_state(folder: Path) -> dict[str, Any]:
    return load_json_file(folder / "trainer_state.json")


def load_rank_state(folder: Path, rank: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(RNG and shuffler state, worker state) of `rank`, read as data only."""
    rng_path, episodes_path = folder / f"rng_rank{rank}.pt", folder / f"episodes_rank{rank}.json"
    if rng_path.is_file() and not episodes_path.is_file():
        raise CheckpointError(
            f"{folder}: written by an sftvsrl version that pickled whole environments into {rng_path.name}; "
            "such a checkpoint cannot be resumed safely (loading it could run code); start a new run from "
            f"{folder / 'policy'} with --model")
    if not rng_path.is_file():
        raise CheckpointError(f"{rng_path} is missing: was this checkpoint written with a different number of ranks?")
    state = load_tensor_file(rng_path)
    if not isinstance(state, dict) or state.get("format") != RNG_FORMAT:
        raise CheckpointError(f"{rng_path}: not an RNG state this version wrote (format {RNG_FORMAT}); start a new "
                              f"run from {folder / 'policy'} with --model")
    return state, load_json_file(episodes_path)
