"""Atomic, resumable PPO checkpoints.

`<output_dir>/checkpoints/update_<N>/` holds the policy in HF layout (`policy/`, loadable with
`from_pretrained`, tokenizer/processor included), `value_head.pt`, the optimiser (`optimizer.pt`, or
`deepspeed/` with ZeRO shards), `scheduler.pt`, `trainer_state.json` (counters, compute ledger) and one
`rng_rank<R>.pt` per rank (torch/numpy/python RNG, the rank's environment seed stream, the shuffling
generator). Everything is written into a temporary folder that is renamed into place only once complete, with
a `COMPLETE` marker written last; a crash mid-save leaves a temporary folder that is never loaded.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

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


def rng_state(extra: dict[str, Any]) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate(), **extra}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(output_dir: str | Path, update: int, *, engine, loaded, value_head: torch.nn.Module,
                    scheduler, trainer_state: dict[str, Any], rank_state: dict[str, Any], config_text: str) -> Path:
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
    if engine.rank == 0:
        backbone = engine.module.backbone
        backbone.save_pretrained(staging / "policy")
        loaded.processor.save_pretrained(staging / "policy")
        torch.save(value_head.state_dict(), staging / "value_head.pt")
        torch.save(scheduler.state_dict(), staging / "scheduler.pt")
        (staging / "trainer_state.json").write_text(json.dumps(trainer_state, indent=2, sort_keys=True) + "\n")
        (staging / "config.yaml").write_text(config_text, encoding="utf-8")
    engine.barrier()
    if engine.rank == 0:
        (staging / COMPLETE).write_text(str(update) + "\n")
        if final.exists():
            shutil.rmtree(final)
        staging.rename(final)
    engine.barrier()
    return final


def load_trainer_state(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))


def load_rank_state(folder: Path, rank: int) -> dict[str, Any]:
    path = folder / f"rng_rank{rank}.pt"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: was this checkpoint written with a different number of ranks?")
    return torch.load(path, weights_only=False)
