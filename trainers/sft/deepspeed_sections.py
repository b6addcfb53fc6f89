"""The HF-Trainer-style `optimizer` and `scheduler` sections of a DeepSpeed file, as `sftvsrl sft` builds them.

The published SFT script hands DeepSpeed `sft_scripts/zero3_offload.json`, whose sections read
`"optimizer": {"type": "AdamW", "params": {"lr": "auto", ...}}` and `"scheduler": {"type": "WarmupLR", ...}`.
The HF Trainer fills the "auto" values from its arguments and lets DeepSpeed build both; the scheduler section
then replaces `--lr_scheduler_type` (the published `cosine` was never used: the learning rate warms up over
`ceil(warmup_ratio x steps)` steps on DeepSpeed's log curve and stays constant). Here the trainer builds AdamW
and the same per-step learning rate itself, so the sections are read, checked and applied:

- optimizer: `AdamW` / `Adam` (DeepSpeed's Adam is AdamW by default); a number replaces the run's setting
  (`lr`, `betas`, `eps`, `weight_decay`), "auto" keeps it.
- scheduler: `WarmupLR` and `WarmupDecayLR`, with DeepSpeed's formulas and its step timing (the first two
  optimizer steps run at `warmup_min_lr`); "auto" is 0 for the minimum, the run's learning rate for the
  maximum, the warm-up steps and the run's steps.

Every other type is refused with one line naming it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

from envs.errors import InputError

OPTIMIZERS = ("adamw", "adam")
SCHEDULERS = ("warmuplr", "warmupdecaylr")


def _value(params: dict[str, Any], key: str, auto: Any) -> Any:
    value = params.get(key, "auto")
    return auto if value == "auto" else value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"DeepSpeed config {where} must be a number or \"auto\", got {value!r}")
    return float(value)


def apply_optimizer_section(section: dict[str, Any] | None, settings):
    """`settings` with the section's explicit values (a copy; the same object without a section)."""
    if not section:
        return settings
    kind = str(section.get("type", "")).lower()
    if kind not in OPTIMIZERS:
        raise InputError(f"DeepSpeed config optimizer type {section.get('type')!r} is not supported by sftvsrl sft "
                         "(it builds AdamW); use AdamW or remove the section")
    params = section.get("params") or {}
    changes: dict[str, Any] = {}
    for key, field in (("lr", "learning_rate"), ("eps", "adam_eps"), ("weight_decay", "weight_decay")):
        value = _value(params, key, None)
        if value is not None:
            changes[field] = _number(value, f"optimizer.params.{key}")
    betas = _value(params, "betas", None)
    if betas is not None:
        if not (isinstance(betas, (list, tuple)) and len(betas) == 2):
            raise InputError(f"DeepSpeed config optimizer.params.betas must be two numbers or \"auto\", got {betas!r}")
        changes["adam_beta1"], changes["adam_beta2"] = (_number(b, "optimizer.params.betas") for b in betas)
    return dataclasses.replace(settings, **changes)


@dataclasses.dataclass(frozen=True)
class DeepSpeedSchedule:
    """A DeepSpeed warm-up schedule with its "auto" values resolved."""

    kind: str
    min_lr: float
    max_lr: float
    warmup_steps: int
    total_steps: int
    log_warmup: bool

    def lr(self, step: int) -> float:
        """The learning rate of optimizer step `step` (0-based), as DeepSpeed's engine applies it: the value
        set at construction for step 0, then the value after `step` scheduler steps (iteration `step - 1`)."""
        if step == 0:
            return self.min_lr
        iteration = step - 1
        warmup = max(2, self.warmup_steps)
        if iteration < warmup:
            gamma = math.log(iteration + 1) / math.log(warmup) if self.log_warmup else iteration / warmup
        elif self.kind == "warmupdecaylr":
            gamma = max(0.0, (self.total_steps - iteration) / max(1.0, self.total_steps - warmup))
        else:
            gamma = 1.0
        return self.min_lr + (self.max_lr - self.min_lr) * gamma

    def describe(self) -> str:
        curve = "log" if self.log_warmup else "linear"
        after = "linear decay to 0" if self.kind == "warmupdecaylr" else "constant"
        return (f"DeepSpeed {'WarmupDecayLR' if self.kind == 'warmupdecaylr' else 'WarmupLR'}: {curve} warm-up "
                f"from {self.min_lr:g} to {self.max_lr:g} over {max(2, self.warmup_steps)} steps, then {after}")


def schedule_from_section(section: dict[str, Any] | None, *, learning_rate: float, warmup_ratio: float,
                          total_steps: int) -> DeepSpeedSchedule | None:
    """The section's schedule with the HF Trainer's "auto" values (None without a section)."""
    if not section:
        return None
    kind = str(section.get("type", "")).lower()
    if kind not in SCHEDULERS:
        raise InputError(f"DeepSpeed config scheduler type {section.get('type')!r} is not supported by sftvsrl sft; "
                         "use WarmupLR or WarmupDecayLR, or remove the section (then --lr-scheduler applies)")
    params = section.get("params") or {}
    warmup = _value(params, "warmup_num_steps", math.ceil(warmup_ratio * total_steps))
    total = _value(params, "total_num_steps", total_steps)
    for key, value in (("warmup_num_steps", warmup), ("total_num_steps", total)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise InputError(f"DeepSpeed config scheduler.params.{key} must be a whole number or \"auto\", "
                             f"got {value!r}")
    warmup_type = str(params.get("warmup_type", "log")).lower()
    return DeepSpeedSchedule(kind, _number(_value(params, "warmup_min_lr", 0.0), "scheduler.params.warmup_min_lr"),
                             _number(_value(params, "warmup_max_lr", learning_rate), "scheduler.params.warmup_max_lr"),
                             int(warmup), int(total), warmup_type != "linear")


def multiplier_for(schedule: DeepSpeedSchedule, learning_rate: float) -> Callable[[int], float]:
    """The schedule as a `LambdaLR` multiplier of `learning_rate` (other parameter groups, such as a
    projector with its own rate, scale in proportion)."""
    return lambda step: schedule.lr(step) / learning_rate
