"""Reading a checkpoint's files as data only: tensors with `torch.load(weights_only=True)`, state as JSON.

Run folders are shared and downloaded, so a checkpoint file is untrusted input: a pickle can run code when it
is loaded. Nothing here unpickles arbitrary objects; a file that is not plain data is refused with one line
naming it.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch

from envs.errors import CheckpointError

MAX_JSON_BYTES = 1 << 30


class UnsafeCheckpointFileError(CheckpointError):
    """A checkpoint file that holds more than plain data (it could run code when loaded); never loaded."""


def load_tensor_file(path: Path) -> Any:
    """Tensors, numbers, strings and containers of them; anything else is refused without being run."""
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: the checkpoint is incomplete; resume from another one or "
                              "start a new run")
    try:
        return torch.load(path, weights_only=True)
    except pickle.UnpicklingError:
        raise UnsafeCheckpointFileError(
            f"{path}: refused: it holds more than tensors and plain data (a crafted file, or a checkpoint written "
            "before safe checkpoints), and loading it could run code; resume from a checkpoint this version "
            "wrote, or start a new run from its policy/ folder with --model") from None
    except (RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: unreadable ({str(error).splitlines()[0] if str(error) else type(error).__name__}); "
                              "resume from another checkpoint or start a new run") from None


def save_json_file(path: Path, data: Any, indent: int | None = None) -> None:
    path.write_text(json.dumps(data, indent=indent, sort_keys=True) + "\n", encoding="utf-8")


def load_json_file(path: Path) -> Any:
    if not path.is_file():
        raise CheckpointError(f"{path} is missing: the checkpoint is incomplete; resume from another one or "
                              "start a new run")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise CheckpointError(f"{path}: larger than {MAX_JSON_BYTES >> 20} MiB; not a checkpoint this version wrote")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError) as error:  # undecodable bytes, bad JSON, absurd nesting or numbers
        raise CheckpointError(f"{path}: not JSON ({type(error).__name__}); the file is corrupt or not a "
                              "checkpoint file this version wrote") from None


# What DeepSpeed (0.19) pickles into its ZeRO optimizer shards besides tensors and plain data.
DEEPSPEED_GLOBALS = frozenset({"deepspeed.runtime.zero.config.ZeroStageEnum",
                               "deepspeed.utils.tensor_fragment.fragment_address",
                               "deepspeed.runtime.fp16.loss_scaler.LossScaler",
                               "deepspeed.runtime.fp16.loss_scaler.DynamicLossScaler"})


def check_deepspeed_files(folder: Path) -> None:
    """DeepSpeed loads its own shards with a full unpickler: before it does, every file under `folder` must be
    a torch.save archive whose pickle names only globals torch allows with weights_only=True, or the few
    DeepSpeed classes above (a static scan of the pickle's instructions; no tensor is read, nothing is run)."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            unknown = set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path))) - DEEPSPEED_GLOBALS
        except Exception as error:  # not a torch.save zip, or a pickle instruction outside the safe set
            raise UnsafeCheckpointFileError(
                f"{path}: refused: not a plain DeepSpeed state file ({type(error).__name__}); loading it could "
                "run code; resume from a checkpoint this version wrote") from None
        if unknown:
            raise UnsafeCheckpointFileError(
                f"{path}: refused: it names {', '.join(sorted(unknown))}, which loading could run; resume from a "
                "checkpoint this version wrote")
