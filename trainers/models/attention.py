"""The attention implementation a model is loaded with: sdpa, flash_attention_2 or eager, or the best available.

`choose_attention(requested, model_class, device, dtype) -> str`
- `requested`: "auto" (or None), "sdpa", "flash_attention_2" or "eager".
- "auto" picks flash_attention_2 when the `flash_attn` package imports, the model runs on CUDA in bf16 / fp16
  and the model class supports it; else sdpa when the model class supports it; else eager.
- An explicit choice the machine or the model cannot honour is an `InputError` naming why (flash_attention_2
  without `flash_attn` installed, without CUDA, in fp32, or on a model class without it; sdpa on a class
  without it).

`preferred_attention(choice)`: a context manager making `choice` the default of every `load_model` call in
the block that does not name one (commands whose trainers load the model themselves: sft, ppo).
"""

from __future__ import annotations

import contextlib
import importlib.util
from typing import Any, Iterator

from envs.errors import InputError

ATTN_CHOICES = ("auto", "sdpa", "flash_attention_2", "eager")

_preferred: list[str] = []


@contextlib.contextmanager
def preferred_attention(choice: str | None) -> Iterator[None]:
    """Within the block, `load_model(attn_implementation=None)` uses `choice` (None: no change)."""
    if choice is None:
        yield
        return
    check_choice(choice)
    _preferred.append(choice)
    try:
        yield
    finally:
        _preferred.pop()


def current_preference() -> str:
    return _preferred[-1] if _preferred else "auto"


def check_choice(choice: str) -> str:
    if choice not in ATTN_CHOICES:
        raise InputError(f"unknown attention implementation {choice!r}; use one of {', '.join(ATTN_CHOICES)}")
    return choice


def flash_attn_installed() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def _half_precision(dtype: Any) -> bool:
    import torch

    return dtype in (torch.bfloat16, torch.float16)


def _flash_problem(model_class: Any, device: Any, dtype: Any) -> str | None:
    """Why flash_attention_2 cannot run here, or None when it can."""
    import torch

    if not flash_attn_installed():
        return "the flash_attn package is not installed (pip install flash-attn)"
    if torch.device(device).type != "cuda":
        return "it needs a CUDA device"
    if not _half_precision(dtype):
        return f"it needs bf16 or fp16 weights, not {dtype} (pass --dtype bf16)"
    if not getattr(model_class, "_supports_flash_attn", False):
        return f"{model_class.__name__} does not support it"
    return None


def choose_attention(requested: str | None, model_class: Any, device: Any, dtype: Any) -> str:
    """The attention implementation to load `model_class` with on `device` in `dtype` (see the module doc)."""
    choice = check_choice(requested or current_preference())
    sdpa = bool(getattr(model_class, "_supports_sdpa", False))
    if choice == "auto":
        if _flash_problem(model_class, device, dtype) is None:
            return "flash_attention_2"
        return "sdpa" if sdpa else "eager"
    if choice == "flash_attention_2":
        problem = _flash_problem(model_class, device, dtype)
        if problem:
            raise InputError(f"--attn-implementation flash_attention_2 is not available: {problem}; "
                             "use sdpa or eager (or auto)")
    if choice == "sdpa" and not sdpa:
        raise InputError(f"--attn-implementation sdpa is not available: {model_class.__name__} does not support "
                         "it; use eager (or auto)")
    return choice
