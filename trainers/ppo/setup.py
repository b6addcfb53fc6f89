"""Everything a PPO run holds between updates (`PPORun`), built once by `start_run`: the model and its
critic, the optimisation engine and schedule, the rollout worker, the shuffling generator, the compute ledger
and the log, restored from the latest checkpoint on resume; `save_run` writes that state back.

The order of the steps below fixes every random draw of a run (value-head init, then the per-rank seed), so
it is part of the same-seed, same-log contract.
"""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from envs.errors import CheckpointError, InputError
from trainers.ppo.checkpoint import (latest_checkpoint, load_rank_state, load_trainer_state, restore_rng,
                                     save_checkpoint)
from trainers.ppo.compute import ComputeLedger, parameter_count
from trainers.ppo.config import PPOTrainConfig
from trainers.ppo.deepspeed_setup import offloads_optimizer
from trainers.ppo.engine import (DeepSpeedTrainEngine, PlainEngine, apply_gradient_checkpointing, deepspeed_config,
                                 launched_world_size, make_optimizer)
from trainers.ppo.rollout import RolloutWorker
from trainers.ppo.run_log import RunLog
from trainers.ppo.safe_files import load_tensor_file
from trainers.ppo.value_head import PolicyWithValue, ValueHead, hidden_size_of
from trainers.sft.distributed import deepspeed_label


@dataclass
class PPORun:
    loaded: Any
    policy: PolicyWithValue
    engine: Any
    scheduler: Any
    worker: RolloutWorker
    shuffler: torch.Generator
    ledger: ComputeLedger
    log: RunLog
    output_dir: Path
    config_text: str
    world_size: int
    counters: dict[str, int] = field(default_factory=lambda: {"update": 0, "env_steps": 0, "episodes": 0})

    @property
    def rank(self) -> int:
        return self.engine.rank


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_cpu_threads(model: torch.nn.Module, threads: int | None) -> None:
    """See PPORunOptions.cpu_threads."""
    if next(model.parameters()).device.type != "cpu":
        return
    if threads is None and parameter_count(model) < 100_000_000:
        threads = 1
    if threads is not None:
        torch.set_num_threads(threads)


def config_text(config: PPOTrainConfig) -> str:
    data = asdict(config.experiment)
    data["ppo_run"] = asdict(config.options)
    if config.options.deepspeed:  # the file's path, or what accelerate's inline settings asked for
        data["ppo_run"]["deepspeed"] = deepspeed_label(config.options.deepspeed)
    return yaml.safe_dump(data, sort_keys=True)


def _device(world_size: int) -> str:
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if world_size > 1 else "cuda"
    return "cpu"


def build_learner(config: PPOTrainConfig, loaded, checkpoint: Path | None):
    """(actor-critic, optimisation engine, lr scheduler); the value head restored from `checkpoint` if any."""
    x, o = config.experiment, config.options
    seed_everything(x.seed)  # identical value-head init on every rank
    value_head = ValueHead(hidden_size_of(loaded.model))
    if checkpoint:
        value_head.load_state_dict(load_tensor_file(checkpoint / "value_head.pt"))
    policy = PolicyWithValue(loaded.model, value_head.to(dtype=next(loaded.model.parameters()).dtype),
                             x.ppo_config.value_grad_to_backbone)
    apply_gradient_checkpointing(loaded.model, o.gradient_checkpointing)
    opt_cfg, max_grad_norm, ds_config = x.optimizer_config, x.ppo_config.max_grad_norm, None
    if o.deepspeed:
        bf16 = next(loaded.model.parameters()).dtype == torch.bfloat16
        ds_config = deepspeed_config(o.deepspeed, config.grad_accum, max_grad_norm, bf16, o.offload_optimizer,
                                     launched_world_size(), parameter_count(policy))
    groups = [{"params": list(policy.backbone.parameters())},
              {"params": list(policy.value_head.parameters()), "lr": opt_cfg.value_head_lr or opt_cfg.init_lr}]
    optimizer = make_optimizer(groups, lr=opt_cfg.init_lr, eps=opt_cfg.eps, weight_decay=opt_cfg.weight_decay,
                               offload=ds_config is not None and offloads_optimizer(ds_config))
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=opt_cfg.lr_max_steps, eta_min=opt_cfg.end_lr)
    if ds_config is not None:
        return policy, DeepSpeedTrainEngine(policy, optimizer, ds_config), scheduler
    return policy, PlainEngine(policy, optimizer, config.grad_accum, max_grad_norm), scheduler


def _prompt_template(experiment) -> str | None:
    """prompt_config.template_path loaded and checked against the environment's template variables."""
    from envs.registry import load_prompt_template

    return load_prompt_template(experiment.env_config, experiment.prompt_config.template_path)


def start_run(config: PPOTrainConfig, model_source: str, init_flops: float) -> PPORun:
    """A fresh run from `model_source`, or with `options.resume` the latest checkpoint's state."""
    from trainers.models.loader import load_model, require_images_if_needed

    x, o = config.experiment, config.options
    world_size = launched_world_size()
    if world_size > 1 and not o.deepspeed:
        raise InputError(f"{world_size} ranks were launched: pass --deepspeed zero2 (or a DeepSpeed config)")
    output_dir = Path(x.output_dir)
    checkpoint = latest_checkpoint(output_dir) if o.resume else None
    if not o.resume and latest_checkpoint(output_dir) is not None:
        raise InputError(f"{output_dir} already holds checkpoints; pass --resume to continue or pick another output_dir")
    loaded = load_model(str(checkpoint / "policy") if checkpoint else model_source, dtype=o.dtype,
                        device=_device(world_size), for_training=True)
    require_images_if_needed(loaded, x.env_config)
    set_cpu_threads(loaded.model, o.cpu_threads)
    policy, engine, scheduler = build_learner(config, loaded, checkpoint)
    worker = RolloutWorker(x.env_config, x.num_envs, x.seed, engine.rank, _prompt_template(x),
                           x.prompt_config.enable_verification)
    shuffler = torch.Generator().manual_seed(x.seed * 7919 + engine.rank)
    seed_everything(x.seed + 1000003 * engine.rank)  # each rank samples its own answers
    run = PPORun(loaded, policy, engine, scheduler, worker, shuffler,
                 ComputeLedger(parameter_count(loaded.model), init_flops),
                 RunLog(output_dir, config.report_to, x.run_name, asdict(x), enabled=engine.rank == 0),
                 output_dir, config_text(config), world_size)
    if checkpoint:
        _restore(run, checkpoint)
    elif run.rank == 0:
        output_dir.mkdir(parents=True, exist_ok=True)
        if run.log.path.exists():
            run.log.path.unlink()
        shutil.rmtree(output_dir / "evals", ignore_errors=True)
    if run.rank == 0:
        (output_dir / "config.yaml").write_text(run.config_text, encoding="utf-8")
    return run


def _restore(run: PPORun, checkpoint: Path) -> None:
    """Load `checkpoint` into `run`, reading data only (see safe_files)."""
    rng, worker_state = load_rank_state(checkpoint, run.rank)
    run.engine.load(checkpoint)
    run.scheduler.load_state_dict(load_tensor_file(checkpoint / "scheduler.pt"))
    state = load_trainer_state(checkpoint)
    run.counters = state["counters"]
    run.ledger.load_state_dict(state["compute"])
    restore_rng(rng)
    try:
        run.worker.load_state_dict(worker_state)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CheckpointError(f"{checkpoint / f'episodes_rank{run.rank}.json'}: malformed episode state "
                              f"({type(error).__name__}: {error}); resume from another checkpoint") from None
    run.shuffler.set_state(rng["shuffler"])
    run.log.truncate_after(run.counters["update"])


def param_checksum(module: torch.nn.Module) -> float:
    """Sum of all weights in float64: equal on every rank when data-parallel training stays in sync."""
    with torch.no_grad():
        return float(sum(p.detach().double().sum() for p in module.parameters()))


def save_run(run: PPORun, update: int) -> Path:
    return save_checkpoint(run.output_dir, update, engine=run.engine, loaded=run.loaded,
                           value_head=run.policy.value_head, scheduler=run.scheduler, config_text=run.config_text,
                           trainer_state={"counters": run.counters, "compute": run.ledger.state_dict()},
                           rank_state={"shuffler": run.shuffler.get_state(), "param_checksum": param_checksum(run.policy)},
                           worker_state=run.worker.state_dict())
