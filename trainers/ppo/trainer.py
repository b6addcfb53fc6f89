"""`train(config)`: a whole PPO run, top to bottom. `start_run` builds (or restores) the run's state; then each
update collects a rollout, computes returns, runs the PPO epochs, steps the schedule, logs, maybe evaluates
and maybe saves a checkpoint.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import torch

from trainers.ppo.checkpoint import prune_checkpoints
from trainers.models.families import image_tokens_per_image
from trainers.ppo.compute import update_tokens
from trainers.ppo.config import PPOTrainConfig
from trainers.ppo.rollout import score
from trainers.ppo.rollout_stats import RolloutStats
from trainers.ppo.settings import ReturnSettings, RolloutSettings, UpdateSettings
from trainers.ppo.setup import PPORun, save_run, start_run
from trainers.ppo.storage import RolloutStorage
from trainers.ppo.update import critic_warmup, ppo_update

Reporter = Callable[[str, dict[str, Any]], None]
"""Progress callback: ("round", rollout stats) during a rollout, ("update", log record) after an update."""
Evaluator = Callable[[Any, int], dict[str, Any]]


def train(config: PPOTrainConfig, model_source: str, reporter: Reporter | None = None,
          init_flops: float = 0.0, evaluator: Evaluator | None = None) -> dict[str, Any]:
    """Run PPO from `model_source` (or the latest checkpoint with `options.resume`); returns the last record.

    `evaluator(loaded, update)` runs every `options.eval_every` updates on rank 0 and returns log keys."""
    x, o = config.experiment, config.options
    run = start_run(config, model_source, init_flops)
    rollout_settings, returns = RolloutSettings.from_config(config), ReturnSettings.from_config(config)
    update_settings = UpdateSettings.from_config(config)
    record: dict[str, Any] = {}
    started = time.perf_counter()
    try:
        for update in range(run.counters["update"] + 1, x.num_updates + 1):
            update_started = time.perf_counter()
            storage = RolloutStorage(config.rounds, x.num_envs)
            stats = run.worker.collect(run.loaded, run.policy, storage, rollout_settings,
                                       _round_reporter(reporter, run, update))
            storage.finish(returns)
            learning_rate = run.scheduler.get_last_lr()[0]
            warmup_loss = _warm_up_critic(run, config, storage, returns) if update == 1 else None
            losses = ppo_update(run.engine, storage, update_settings, run.loaded.pad_token_id, run.shuffler)
            run.scheduler.step()
            record = _update_record(run, config, update, storage, stats, losses)
            record.update(learning_rate=learning_rate, critic_warmup_loss=warmup_loss,
                          update_seconds=time.perf_counter() - update_started,
                          wall_time=time.perf_counter() - started)
            if evaluator is not None and o.eval_every and update % o.eval_every == 0:
                record.update(_evaluate(evaluator, run, update))
            run.log.write(record)
            if reporter and run.rank == 0:
                reporter("update", record)
            if update % x.save_every == 0 or update == x.num_updates:
                saved = save_run(run, update)
                if not x.keep_every_checkpoint and run.rank == 0:  # published save_ckpt: false
                    prune_checkpoints(run.output_dir, keep=saved)
    finally:
        run.log.close()
    return record


def _round_reporter(reporter: Reporter | None, run: PPORun, update: int):
    if reporter is None or run.rank != 0:
        return None
    return lambda stats: reporter("round", {"update": update, **stats.summary(), "env_steps": stats.env_steps})


def _warm_up_critic(run: PPORun, config: PPOTrainConfig, storage: RolloutStorage,
                    returns: ReturnSettings) -> float | None:
    """Before the first update: fit the value head to the first rollout's returns, then recompute the
    buffer's values and returns with it. Returns the warm-up loss (None when switched off)."""
    ppo, opt = config.experiment.ppo_config, config.experiment.optimizer_config
    if ppo.critic_warmup_epochs <= 0:
        return None
    pad_id = run.loaded.pad_token_id
    loss = critic_warmup(run.engine, storage, ppo.critic_warmup_epochs, ppo.mini_batch_size, pad_id,
                         opt.value_head_lr or opt.init_lr, run.shuffler)
    temperature, batch_size = config.experiment.generation_config.temperature, config.options.forward_batch_size
    storage.rescore_values(lambda transitions: score(run.policy, transitions, temperature, pad_id, batch_size)[1])
    storage.finish(returns)
    return loss


def _update_record(run: PPORun, config: PPOTrainConfig, update: int, storage: RolloutStorage,
                   stats: RolloutStats, losses: dict[str, Any]) -> dict[str, Any]:
    """The update's log record (all ranks together), without its timing and learning-rate keys; advances the
    run's counters and compute ledger."""
    engine = run.engine
    tokens = update_tokens(storage, config.experiment.ppo_config.ppo_epoch,
                           image_tokens_per_image(run.loaded.model.config), stats.bootstrap_tokens)
    compute = run.ledger.add_update(*[sum(part) for part in zip(*engine.all_gather_objects(tokens))])
    rollout = RolloutStats.merged(engine.all_gather_objects(stats.to_plain())).log_keys()
    keys = ("policy_loss", "value_loss", "approx_kl", "clip_fraction")
    mean_losses = dict(zip(keys, engine.all_reduce_mean(torch.tensor([losses[k] for k in keys])).tolist()))
    run.counters = {"update": update, "env_steps": run.counters["env_steps"] + rollout["env_steps"],
                    "episodes": run.counters["episodes"] + rollout["episodes"]}
    return {
        "update": update, "total_env_steps": run.counters["env_steps"], "total_episodes": run.counters["episodes"],
        **rollout, **mean_losses, "ratio_guard_fraction": losses["ratio_guard"], "grad_norm": losses["grad_norm"],
        "optimizer_steps": losses["optimizer_steps"], "explained_variance": losses["explained_variance"],
        "compute_flops": compute["compute_flops"], "compute_gflops": compute["compute_flops"] / 1e9,
        **{key: compute[key] for key in ("flops_train", "flops_rollout", "tokens_train", "tokens_buffer")},
        "world_size": run.world_size, "rollout_seconds": stats.seconds,
        "env_steps_per_second": rollout["env_steps"] / max(stats.seconds, 1e-9),
        "tokens_per_second": rollout["generated_tokens"] / max(stats.seconds, 1e-9),
    }


def _evaluate(evaluator: Evaluator, run: PPORun, update: int) -> dict[str, Any]:
    """Rank 0 evaluates while the other ranks wait; the RNG is restored so training is unaffected."""
    results: dict[str, Any] = {}
    if run.rank == 0:
        with torch.random.fork_rng(devices=[]):
            results = evaluator(run.loaded, update)
    run.engine.barrier()
    return results
