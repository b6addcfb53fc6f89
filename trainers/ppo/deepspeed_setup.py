"""The DeepSpeed side of a PPO run's set-up: which config (a packaged name such as `zero2`, `zero3`,
`zero3_offload`, a JSON file, or the DeepSpeed config of `accelerate launch`'s inline settings; see
trainers/sft/distributed.py), its "auto" values filled for PPO, and the optimizer DeepSpeed is given.

PPO steps the engine once per mini-batch (micro batch 1 as DeepSpeed counts it), so `train_batch_size` is the
accumulation times the world size. Optimizer offload needs DeepSpeed's CPU Adam (`DeepSpeedCPUAdam`, a C++ op
compiled on first use); DeepSpeed refuses a plain `torch.optim.Adam` there.
"""

from __future__ import annotations

from typing import Any

import torch

from envs.errors import InputError
from trainers.sft.distributed import DeepSpeedChoice, filled_deepspeed_config, read_deepspeed_config

BUCKET_GRAIN = 1_000_000
"""Capped buckets are rounded up to this many elements (DeepSpeed wants them aligned)."""
BUCKET_KEYS = ("reduce_bucket_size", "allgather_bucket_size", "stage3_prefetch_bucket_size")


def deepspeed_config(choice: DeepSpeedChoice, grad_accum_steps: int, max_grad_norm: float, bf16: bool,
                     offload_optimizer: bool, world_size: int = 1, parameters: int | None = None) -> dict[str, Any]:
    """The config `choice` (a packaged name, a JSON file or a config dict) with the run's accumulation,
    clipping, precision and offload filled in. `parameters` caps the communication buckets: a bucket larger
    than the model only allocates memory it never fills."""
    config, where = read_deepspeed_config(choice)
    _refuse_hf_sections(config, where)
    config = filled_deepspeed_config(config, where=where, micro_batch=1, grad_accum=grad_accum_steps,
                                     world_size=world_size, max_grad_norm=max_grad_norm,
                                     mixed_precision="bf16" if bf16 else "no")
    config["gradient_accumulation_steps"] = grad_accum_steps
    config["gradient_clipping"] = max_grad_norm
    config["train_micro_batch_size_per_gpu"] = 1
    config["train_batch_size"] = grad_accum_steps * world_size
    config["bf16"] = {"enabled": bool(bf16)}
    config["fp16"] = {"enabled": False}
    config.setdefault("zero_allow_untested_optimizer", True)
    zero = config.setdefault("zero_optimization", {})
    if zero.get("stage", 0) not in (0, 1, 2, 3):
        raise InputError(f"{where}: zero_optimization.stage must be 0-3, got {zero.get('stage')!r}")
    if offload_optimizer:
        if zero.get("stage", 0) == 0:
            raise InputError("--offload-optimizer needs ZeRO stage 1-3 (e.g. --deepspeed zero2)")
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": torch.cuda.is_available()}
    if parameters:
        for key in BUCKET_KEYS:
            if isinstance(zero.get(key), (int, float)):
                zero[key] = int(min(zero[key], -(-parameters // BUCKET_GRAIN) * BUCKET_GRAIN))
    if "offload_optimizer" in zero and not torch.cuda.is_available():
        zero["offload_optimizer"]["pin_memory"] = False
    return config


def _refuse_hf_sections(config: dict[str, Any], where: str) -> None:
    if "optimizer" in config or "scheduler" in config:
        raise InputError(f"{where}: remove the 'optimizer'/'scheduler' sections; sftvsrl ppo builds Adam and the "
                         "schedule from its own config")


def check_deepspeed_choice(choice: DeepSpeedChoice, offload_optimizer: bool, eval_every: int) -> int:
    """Read `choice` before any model is loaded (one clear line when it is wrong); returns the stage."""
    config, where = read_deepspeed_config(choice)
    try:
        stage = zero_stage(config)
    except (ValueError, TypeError, AttributeError) as error:
        raise InputError(f"cannot read DeepSpeed config {where}: {error}") from None
    _refuse_hf_sections(config, where)
    if offload_optimizer and stage == 0:
        raise InputError(f"--offload-optimizer needs ZeRO stage 1-3; {where} is stage 0")
    if stage == 3 and eval_every:
        raise InputError("--eval-every is not supported under ZeRO-3 (rank 0 evaluates alone, but every rank "
                         "holds a shard of the weights); evaluate the saved checkpoints with `sftvsrl eval`")
    return stage


def zero_stage(config: dict[str, Any]) -> int:
    return int(config.get("zero_optimization", {}).get("stage", 0))


def offloads_optimizer(config: dict[str, Any]) -> bool:
    offload = config.get("zero_optimization", {}).get("offload_optimizer") or {}
    return offload.get("device", "none") not in ("none", None)


def make_optimizer(groups: list[dict[str, Any]], *, lr: float, eps: float, weight_decay: float,
                   offload: bool) -> torch.optim.Optimizer:
    """Adam over `groups`: torch's, or DeepSpeed's CPU Adam when the optimizer state lives on the CPU (the same
    update: L2 weight decay added to the gradient, adamw_mode=False)."""
    if not offload:
        return torch.optim.Adam(groups, lr=lr, eps=eps, weight_decay=weight_decay)
    try:
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        return DeepSpeedCPUAdam(groups, lr=lr, eps=eps, weight_decay=weight_decay, adamw_mode=False)
    except (ImportError, RuntimeError, OSError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"DeepSpeed's CPU Adam op (needed by optimizer offload) could not be built ({first}); "
                         "install a C++ compiler and ninja, or run without --offload-optimizer") from None
