"""The optimisation backend: plain PyTorch in one process, or DeepSpeed (ZeRO-2/3, optional CPU offload).

Both expose the same small surface the PPO update needs: `backward(loss)`, `step()` (which applies the
optimiser only at a gradient-accumulation boundary, after grad-norm clipping), `is_boundary()`, the learning-
rate scheduler, collective helpers (`all_reduce_mean`, `barrier`), `full_weights()` (the whole model on every
rank while a checkpoint is written) and state for checkpoints. Launch several
ranks with `deepspeed`, `torchrun` or `accelerate launch`; each reads RANK / WORLD_SIZE from the environment.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch

from envs.errors import InputError
from trainers.models.activation_checkpointing import enable_activation_checkpointing
from trainers.ppo.deepspeed_setup import deepspeed_config, make_optimizer, zero_stage
from trainers.ppo.safe_files import check_deepspeed_files, load_tensor_file

__all__ = ["DeepSpeedTrainEngine", "PlainEngine", "apply_gradient_checkpointing", "deepspeed_config",
           "launched_world_size", "make_optimizer"]


def launched_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


class PlainEngine:
    """One process: manual gradient accumulation, grad-norm clipping, Adam."""

    world_size, rank = 1, 0

    def __init__(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer, grad_accum_steps: int,
                 max_grad_norm: float):
        self.module, self.optimizer = module, optimizer
        self.grad_accum_steps, self.max_grad_norm = grad_accum_steps, max_grad_norm
        self.micro_steps = 0
        self.last_grad_norm: float | None = None
        self.forward = module

    def is_boundary(self) -> bool:
        return (self.micro_steps + 1) % self.grad_accum_steps == 0

    def backward(self, loss: torch.Tensor) -> None:
        (loss / self.grad_accum_steps).backward()

    def step(self) -> None:
        if self.is_boundary():
            norm = torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.max_grad_norm)
            self.last_grad_norm = float(norm)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        self.micro_steps += 1

    def all_reduce_mean(self, values: torch.Tensor) -> torch.Tensor:
        return values

    def all_gather_objects(self, item: Any) -> list[Any]:
        return [item]

    def barrier(self) -> None:
        pass

    def full_weights(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def value_head_copy(self) -> torch.nn.Module:
        return standalone_copy(self.module.value_head)

    def load_value_head(self, state: dict[str, torch.Tensor]) -> None:
        self.module.value_head.load_state_dict(state)

    def save(self, folder: Path) -> None:
        torch.save(self.optimizer.state_dict(), folder / "optimizer.pt")

    def load(self, folder: Path) -> None:
        self.optimizer.load_state_dict(load_tensor_file(folder / "optimizer.pt"))


class DeepSpeedTrainEngine:
    """DeepSpeed: the engine does accumulation, clipping and the sharded (maybe CPU-offloaded) optimiser.

    Under ZeRO-3 each rank holds a shard of the weights; an `HfDeepSpeedConfig` kept alive here tells
    transformers so, and `generate` then keeps the ranks' forward passes in step (synced_gpus) although their
    answers end at different lengths."""

    def __init__(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer, config: dict[str, Any]):
        import deepspeed

        if not torch.distributed.is_initialized():
            deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")
        self.zero_stage = zero_stage(config)
        self._hf_config = None
        if self.zero_stage == 3:
            from transformers.integrations import HfDeepSpeedConfig

            self._hf_config = HfDeepSpeedConfig(config)
        self.engine, _, _, _ = deepspeed.initialize(model=module, optimizer=optimizer, config=config)
        self.module = self.engine.module
        self.forward = self.engine
        self.optimizer = optimizer
        self.rank = torch.distributed.get_rank()
        self.world_size = torch.distributed.get_world_size()
        self.last_grad_norm: float | None = None

    def is_boundary(self) -> bool:
        return bool(self.engine.is_gradient_accumulation_boundary())

    def backward(self, loss: torch.Tensor) -> None:
        self.engine.backward(loss)

    def step(self) -> None:
        boundary = self.is_boundary()
        self.engine.step()
        if boundary:
            norm = self.engine.get_global_grad_norm()
            self.last_grad_norm = float(norm) if norm is not None else None

    def all_reduce_mean(self, values: torch.Tensor) -> torch.Tensor:
        device = self.engine.device
        reduced = values.detach().to(device, dtype=torch.float64).clone()
        torch.distributed.all_reduce(reduced)
        return (reduced / self.world_size).cpu()

    def all_gather_objects(self, item: Any) -> list[Any]:
        gathered: list[Any] = [None] * self.world_size
        torch.distributed.all_gather_object(gathered, item)
        return gathered

    def barrier(self) -> None:
        torch.distributed.barrier()

    def full_weights(self) -> contextlib.AbstractContextManager:
        """Collective (every rank enters): under ZeRO-3 the full weights are gathered for the duration."""
        if self.zero_stage != 3:
            return contextlib.nullcontext()
        import deepspeed

        return deepspeed.zero.GatheredParameters(list(self.module.parameters()), modifier_rank=None)

    def value_head_copy(self) -> torch.nn.Module:
        """The value head as a plain module, outside the engine: trained on its own (the critic warm-up), its
        backward passes never reach DeepSpeed's gradient hooks. Collective under ZeRO-3."""
        head = self.module.value_head
        with self._gathered(head, modifier_rank=None):
            return standalone_copy(head)

    def load_value_head(self, state: dict[str, torch.Tensor]) -> None:
        """Write `state` (the same on every rank) into the engine's value head and its fp32 master copy.
        Only before the first optimizer step: the master weights are refreshed from the bf16 ones."""
        head = self.module.value_head
        with self._gathered(head, modifier_rank=0), torch.no_grad():
            head.load_state_dict(state)
        refresh = getattr(self.engine.optimizer, "refresh_fp32_params", None)
        if refresh is not None:
            refresh()

    def _gathered(self, module: torch.nn.Module, modifier_rank: int | None) -> contextlib.AbstractContextManager:
        if self.zero_stage != 3:
            return contextlib.nullcontext()
        import deepspeed

        return deepspeed.zero.GatheredParameters(list(module.parameters()), modifier_rank=modifier_rank)

    def save(self, folder: Path) -> None:
        self.engine.save_checkpoint(str(folder / "deepspeed"), tag="state", save_latest=False)

    def load(self, folder: Path) -> None:
        check_deepspeed_files(folder / "deepspeed" / "state")
        self.engine.load_checkpoint(str(folder / "deepspeed"), tag="state", load_optimizer_states=True,
                                    load_lr_scheduler_states=False, load_module_strict=True)


GRADIENT_CHECKPOINTING_ABOVE = 1_000_000_000
"""Parameters above which gradient checkpointing is on unless asked otherwise: from ~1B parameters the
update's activations, not the weights, are what stop a long multi-turn prompt from fitting."""


def apply_gradient_checkpointing(model: torch.nn.Module, wanted: bool | None) -> bool:
    """Recompute each layer's activations in the backward pass (`wanted`; None: on for models over ~1B
    parameters). Only training forwards are affected: the rollout runs in eval mode with its KV cache."""
    if wanted is None:
        wanted = sum(p.numel() for p in model.parameters()) > GRADIENT_CHECKPOINTING_ABOVE
    if wanted:
        if not getattr(model, "supports_gradient_checkpointing", False):
            raise InputError(f"{type(model).__name__} does not support gradient checkpointing; "
                             "pass --no-gradient-checkpointing")
        enable_activation_checkpointing(model)
    return bool(wanted)


def standalone_copy(head: torch.nn.Module) -> torch.nn.Module:
    """A copy of the value head with new parameters (no hook of any engine), drawing no random numbers."""
    from trainers.ppo.value_head import ValueHead

    state = {key: value.detach().clone() for key, value in head.state_dict().items()}
    first = state["net.0.weight"]
    with torch.random.fork_rng(devices=[]), torch.device("meta"):
        copy = ValueHead(first.shape[1])
    copy = copy.to_empty(device=first.device).to(first.dtype)
    copy.load_state_dict(state)
    return copy
