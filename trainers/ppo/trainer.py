"""`train(config)`: a whole PPO run, top to bottom: set up, then per update rollout -> GAE -> PPO epochs ->
schedule -> log -> evaluate -> checkpoint.
"""

from __future__ import annotations

import os
import random
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import yaml

from trainers.ppo.checkpoint import (latest_checkpoint, load_rank_state, load_trainer_state, restore_rng,
                                     save_checkpoint)
from trainers.ppo.compute import ComputeLedger, image_tokens_per_image, parameter_count, update_tokens
from trainers.ppo.config import PPOTrainConfig
from trainers.ppo.engine import DeepSpeedTrainEngine, PlainEngine, deepspeed_config, launched_world_size
from trainers.ppo.rollout import RolloutSettings, RolloutStats, RolloutWorker
from trainers.ppo.run_log import RunLog
from trainers.ppo.storage import RolloutStorage
from trainers.ppo.success_estimate import StepsByDepth
from trainers.ppo.update import UpdateSettings, critic_warmup, ppo_update
from trainers.ppo.value_head import PolicyWithValue, ValueHead, hidden_size_of

Reporter = Callable[[str, dict[str, Any]], None]
Evaluator = Callable[[Any, int], dict[str, Any]]
"""Progress callback: ("round", rollout stats) during a rollout, ("update", log record) after an update."""


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
    return yaml.safe_dump(data, sort_keys=True)


def _device(world_size: int) -> str:
    if torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if world_size > 1 else "cuda"
    return "cpu"


def _build_learner(config: PPOTrainConfig, loaded, checkpoint: Path | None):
    """(actor-critic, optimisation engine, lr scheduler); the value head restored from `checkpoint` if any."""
    x, o = config.experiment, config.options
    seed_everything(x.seed)  # identical value-head init on every rank
    value_head = ValueHead(hidden_size_of(loaded.model))
    if checkpoint:
        value_head.load_state_dict(torch.load(checkpoint / "value_head.pt", weights_only=True))
    policy = PolicyWithValue(loaded.model, value_head.to(dtype=next(loaded.model.parameters()).dtype),
                             x.ppo_config.value_grad_to_backbone)
    opt_cfg = x.optimizer_config
    groups = [{"params": list(policy.backbone.parameters())},
              {"params": list(policy.value_head.parameters()), "lr": opt_cfg.value_head_lr or opt_cfg.init_lr}]
    optimizer = torch.optim.Adam(groups, lr=opt_cfg.init_lr, eps=opt_cfg.eps, weight_decay=opt_cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=opt_cfg.lr_max_steps, eta_min=opt_cfg.end_lr)
    max_grad_norm = x.ppo_config.max_grad_norm
    if o.deepspeed:
        bf16 = next(loaded.model.parameters()).dtype == torch.bfloat16
        ds_config = deepspeed_config(o.deepspeed, config.grad_accum, max_grad_norm, bf16, o.offload_optimizer)
        return policy, DeepSpeedTrainEngine(policy, optimizer, ds_config), scheduler
    return policy, PlainEngine(policy, optimizer, config.grad_accum, max_grad_norm), scheduler


def _prompt_template(experiment) -> str | None:
    """prompt_config.template_path loaded and checked against the environment's template variables."""
    from envs.registry import load_prompt_template

    return load_prompt_template(experiment.env_config, experiment.prompt_config.template_path)


def _aggregate(engine, stats: RolloutStats) -> dict[str, Any]:
    """Rollout statistics over every rank."""
    parts = engine.all_gather_objects({"steps": stats.env_steps, "episodes": stats.episodes,
                                       "successes": stats.successes, "rewards": stats.episode_rewards,
                                       "recognitions": stats.recognitions, "generated": stats.generated_tokens,
                                       "prompt": stats.prompt_tokens, "first": stats.first_attempts,
                                       "first_hits": stats.first_attempt_hits,
                                       "by_depth": stats.steps_by_depth.as_lists()})
    total = RolloutStats()
    for part in parts:
        total.env_steps += part["steps"]
        total.episodes += part["episodes"]
        total.successes += part["successes"]
        total.episode_rewards += part["rewards"]
        total.recognitions += part["recognitions"]
        total.generated_tokens += part["generated"]
        total.prompt_tokens += part["prompt"]
        total.first_attempts += part["first"]
        total.first_attempt_hits += part["first_hits"]
        total.steps_by_depth.merge(StepsByDepth.from_lists(part["by_depth"]))
    return {"env_steps": total.env_steps, "generated_tokens": total.generated_tokens, **total.summary()}


def train(config: PPOTrainConfig, model_source: str, reporter: Reporter | None = None,
          init_flops: float = 0.0, evaluator: Evaluator | None = None) -> dict[str, Any]:
    """Run PPO from `model_source` (or the latest checkpoint with `options.resume`); returns the last record.

    `evaluator(loaded, update)` runs every `options.eval_every` updates on rank 0 and returns log keys."""
    from trainers.models.loader import load_model

    x, o = config.experiment, config.options
    opt_cfg = x.optimizer_config
    world_size = launched_world_size()
    if world_size > 1 and not o.deepspeed:
        raise ValueError(f"{world_size} ranks were launched: pass --deepspeed zero2 (or a DeepSpeed config)")
    output_dir = Path(x.output_dir)
    checkpoint = latest_checkpoint(output_dir) if o.resume else None
    if not o.resume and latest_checkpoint(output_dir) is not None:
        raise ValueError(f"{output_dir} already holds checkpoints; pass --resume to continue or pick another output_dir")

    loaded = load_model(str(checkpoint / "policy") if checkpoint else model_source, dtype=o.dtype,
                        device=_device(world_size), for_training=True)
    set_cpu_threads(loaded.model, o.cpu_threads)
    policy, engine, scheduler = _build_learner(config, loaded, checkpoint)
    rank = engine.rank

    template = _prompt_template(x)
    worker = RolloutWorker(x.env_config, x.num_envs, x.seed, rank, template, x.prompt_config.enable_verification)
    shuffler = torch.Generator().manual_seed(x.seed * 7919 + rank)
    seed_everything(x.seed + 1000003 * rank)  # each rank samples its own answers
    ledger = ComputeLedger(parameter_count(loaded.model), init_flops)
    counters = {"update": 0, "env_steps": 0, "episodes": 0}
    run_log = RunLog(output_dir, config.report_to, x.run_name, asdict(x), enabled=rank == 0)
    if checkpoint:
        engine.load(checkpoint)
        scheduler.load_state_dict(torch.load(checkpoint / "scheduler.pt", weights_only=False))
        state = load_trainer_state(checkpoint)
        counters = state["counters"]
        ledger.load_state_dict(state["compute"])
        rank_state = load_rank_state(checkpoint, rank)
        restore_rng(rank_state)
        worker.load_state_dict(rank_state["worker"])
        shuffler.set_state(rank_state["shuffler"])
        run_log.truncate_after(counters["update"])
    elif rank == 0:
        output_dir.mkdir(parents=True, exist_ok=True)
        if run_log.path.exists():
            run_log.path.unlink()
        shutil.rmtree(output_dir / "evals", ignore_errors=True)
    text = config_text(config)
    if rank == 0:
        (output_dir / "config.yaml").write_text(text, encoding="utf-8")

    generation = x.generation_config
    rollout_settings = RolloutSettings(generation.temperature, generation.top_p, config.max_new_tokens,
                                       generation.thought_prob_coef, config.action_fields,
                                       x.prompt_config.enable_verification, o.generation_batch_size,
                                       o.forward_batch_size, o.rollout_scoring, o.prefix_cache)
    update_settings = UpdateSettings(x.ppo_config.ppo_epoch, x.ppo_config.mini_batch_size, x.ppo_config.clip_param,
                                     x.ppo_config.value_loss_coef, generation.temperature, x.ppo_config.entropy_coef,
                                     x.ppo_config.use_entropy_bonus, x.ppo_config.ratio_normalization)
    returns_cfg = x.compute_return_kwargs
    image_tokens = image_tokens_per_image(loaded.model.config)
    record: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        for update in range(counters["update"] + 1, x.num_updates + 1):
            update_started = time.perf_counter()
            storage = RolloutStorage(config.rounds, x.num_envs)
            on_round = (lambda s, u=update: reporter("round", {"update": u, **s.summary(), "env_steps": s.env_steps})) \
                if reporter and rank == 0 else None
            stats, next_values = worker.collect(loaded, policy, storage, rollout_settings, on_round)
            storage.finish(next_values, returns_cfg.gamma, returns_cfg.gae_lambda, returns_cfg.use_gae,
                           returns_cfg.use_proper_time_limits)
            learning_rate = scheduler.get_last_lr()[0]
            warmup_loss = None
            if update == 1 and x.ppo_config.critic_warmup_epochs > 0:
                warmup_loss = critic_warmup(engine, storage, x.ppo_config.critic_warmup_epochs,
                                            x.ppo_config.mini_batch_size, loaded.pad_token_id,
                                            opt_cfg.value_head_lr or opt_cfg.init_lr, shuffler)
                next_values = _refresh_values(worker, policy, storage, generation.temperature, loaded.pad_token_id,
                                              o.forward_batch_size)
                storage.finish(next_values, returns_cfg.gamma, returns_cfg.gae_lambda, returns_cfg.use_gae,
                               returns_cfg.use_proper_time_limits)
            losses = ppo_update(engine, storage, update_settings, loaded.pad_token_id, shuffler)
            scheduler.step()
            tokens = update_tokens(storage, x.ppo_config.ppo_epoch, image_tokens, stats.bootstrap_tokens)
            compute = ledger.add_update(*[sum(part) for part in zip(*engine.all_gather_objects(tokens))])
            rollout = _aggregate(engine, stats)
            mean_losses = engine.all_reduce_mean(torch.tensor(
                [losses["policy_loss"], losses["value_loss"], losses["approx_kl"], losses["clip_fraction"]])).tolist()
            counters = {"update": update, "env_steps": counters["env_steps"] + rollout["env_steps"],
                        "episodes": counters["episodes"] + rollout["episodes"]}
            elapsed = time.perf_counter() - update_started
            record = {
                "update": update, "total_env_steps": counters["env_steps"], "total_episodes": counters["episodes"],
                **rollout,
                "policy_loss": mean_losses[0], "value_loss": mean_losses[1], "approx_kl": mean_losses[2],
                "clip_fraction": mean_losses[3], "ratio_guard_fraction": losses["ratio_guard"],
                "grad_norm": losses["grad_norm"], "optimizer_steps": losses["optimizer_steps"],
                "explained_variance": losses["explained_variance"], "learning_rate": learning_rate,
                "critic_warmup_loss": warmup_loss,
                "compute_flops": compute["compute_flops"], "compute_gflops": compute["compute_flops"] / 1e9,
                "flops_train": compute["flops_train"], "flops_rollout": compute["flops_rollout"],
                "tokens_train": compute["tokens_train"], "tokens_buffer": compute["tokens_buffer"],
                "world_size": world_size,
                "rollout_seconds": stats.seconds, "update_seconds": elapsed,
                "env_steps_per_second": rollout["env_steps"] / max(stats.seconds, 1e-9),
                "tokens_per_second": rollout["generated_tokens"] / max(stats.seconds, 1e-9),
                "wall_time": time.perf_counter() - started,
            }
            if evaluator is not None and o.eval_every and update % o.eval_every == 0:
                record.update(_evaluate(evaluator, loaded, engine, update))
            run_log.write(record)
            if reporter and rank == 0:
                reporter("update", record)
            if update % x.save_every == 0 or update == x.num_updates:
                save_checkpoint(output_dir, update, engine=engine, loaded=loaded, value_head=policy.value_head,
                                scheduler=scheduler, config_text=text,
                                trainer_state={"counters": counters, "compute": ledger.state_dict()},
                                rank_state={"worker": worker.state_dict(), "shuffler": shuffler.get_state(),
                                            "param_checksum": _checksum(policy)})
    finally:
        run_log.close()
    return record


def _refresh_values(worker, policy, storage: RolloutStorage, temperature: float, pad_id: int,
                    batch_size: int) -> torch.Tensor:
    """Re-score the buffer's values with the warmed-up critic (log-probs unchanged); returns the new bootstrap
    values."""
    flat = [tr for row in storage.transitions for tr in row]
    _, values = worker.evaluate(policy, flat, temperature, pad_id, batch_size)
    storage.values = values.view(storage.rounds, storage.num_envs)
    _, next_values = worker.evaluate(policy, worker.last_bootstrap, temperature, pad_id, batch_size)
    return next_values


def _checksum(module: torch.nn.Module) -> float:
    """Sum of all weights in float64: equal on every rank when data-parallel training stays in sync."""
    with torch.no_grad():
        return float(sum(p.detach().double().sum() for p in module.parameters()))


def _evaluate(evaluator: Evaluator, loaded, engine, update: int) -> dict[str, Any]:
    """Rank 0 evaluates while the other ranks wait; the RNG is restored so training is unaffected."""
    results: dict[str, Any] = {}
    if engine.rank == 0:
        with torch.random.fork_rng(devices=[]):
            results = evaluator(loaded, update)
    engine.barrier()
    return results
