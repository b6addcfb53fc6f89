"""The one rule for output folders: nothing already done is lost or overwritten without an explicit flag.

A folder that holds a run (any of the command's marker files) is refused unless the command is told what to
do with it: `--resume` continues it, `--overwrite` discards it first. Evaluation commands and `study` continue
by default (their re-run is the resume); they still take `--overwrite`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterable

from envs.errors import InputError

# What marks a folder as holding a run of each command.
MARKERS = {
    "sft": ("train_log.jsonl", "final", "checkpoint-*"),
    "ppo": ("log.jsonl", "checkpoints"),
    "gen-data": ("data.json", "data.jsonl", "meta.json", "route_infos.json"),
}


class OutputFolderInUse(InputError):
    """The output folder holds a run and neither --resume nor --overwrite was given."""


def holds_run(folder: Path, markers: Iterable[str]) -> bool:
    return folder.is_dir() and any(next(folder.glob(pattern), None) is not None for pattern in markers)


def claim_output_dir(folder: Path | str, command: str, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Check (and with `overwrite`, empty) `folder` before `command` writes into it; returns it as a Path."""
    folder = Path(folder)
    if resume and overwrite:
        raise InputError("--resume and --overwrite contradict each other; give one")
    if overwrite and folder.exists():
        shutil.rmtree(folder)
    elif not resume and holds_run(folder, MARKERS[command]):
        hint = "pass --resume to continue it, " if command != "gen-data" else ""
        raise OutputFolderInUse(f"{folder} already holds a {command} run; {hint}pass --overwrite to discard it, "
                                f"or choose another --out")
    return folder
