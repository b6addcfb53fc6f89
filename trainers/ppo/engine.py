"""The optimisation backend: plain PyTorch in one process, or DeepSpeed ZeRO-2 across ranks.

Both expose the same small surface the PPO update needs: `backward(loss)`, `step()` (which applies the
optimiser only at a gradient-accumulation boundary, after grad-norm clipping), `is_boundary()`, the learning-
rate scheduler, collective helpers (`all_reduce_mean`, `barrier`) and state for checkpoints. Launch several
ranks with `deepspeed`, `torchrun` or `accelerate launch`; each reads RANK / WORLD_SIZE from the environment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from trainers.ppo.safe_files import load_tensor_file

ZERO2_CONFIG: dict[str, Any] = {
    "zero_optimization": {"stage": 2, "overlap_comm": False, "contiguous_gradients": True,
                          "reduce_bucket_size": 5e7, "allgather_bucket_size": 5e7},
    "train_micro_batch_size_per_gpu": 1,
    "zero_allow_untested_optimizer": True,
    "steps_per_print": 10**9,
    "wall_clock_breakdown": False,
}


def deepspeed_config(name_or_path: str, grad_accum_steps: int, max_grad_norm: float, bf16: bool,
                     offload_optimizer: bool) -> dict[str, Any]:
    """The built-in `zero2` config (the paper's setting) or a JSON file, with the run's accumulation,
    clipping and precision filled in."""
    if name_or_path == "zero2":
        config = json.loads(json.dumps(ZERO2_CONFIG))
    else:
        path = Path(name_or_path)
        if not path.is_file():
            raise FileNotFoundError(f"DeepSpeed config not found: {name_or_path} (use 'zero2' or a JSON file)")
        try:
            config = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: invalid JSON ({error.msg} at line {error.lineno})") from None
    config["gradient_accumulation_steps"] = grad_accum_steps
    config["gradient_clipping"] = max_grad_norm
    config.setdefault("train_micro_batch_size_per_gpu", 1)
    config.setdefault("zero_allow_untested_optimizer", True)
    config["bf16"] = {"enabled": bool(bf16)}
    if offload_optimizer:
        config.setdefault("zero_optimization", {})["offload_optimizer"] = {"device": "cpu", "pin_memory": True}
    return config


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

    def save(self, folder: Path) -> None:
        torch.save(self.optimizer.state_dict(), folder / "optimizer.pt")

    def load(self, folder: Path) -> None:
        self.optimizer.load_state_dict(load_tensor_file(folder / "optimizer.pt"))


class DeepSpeedTrainEngine:
    """DeepSpeed (ZeRO-2 by default): the engine does accumulation, clipping and the sharded optimiser."""

    def __init__(self, module: torch.nn.Module, optimizer: torch.optim.Optimizer, config: dict[str, Any]):
        import deepspeed

        if not torch.distributed.is_initialized():
            deepspeed.init_distributed(dist_backend="nccl" if torch.cuda.is_available() else "gloo")
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

    def save(self, folder: Path) -> None:
        self.engine.save_checkpoint(str(folder / "deepspeed"), tag="state", save_latest=False)

    def load(self, folder: Path) -> None:
        self.engine.load_checkpoint(str(folder / "deepspeed"), tag="state", load_optimizer_states=True,
                                    load_lr_scheduler_states=False, load_module_strict=True)
