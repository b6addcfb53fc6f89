"""Shared settings of the PPO tests: tiny budgets on the built-in tiny model."""

from __future__ import annotations

TINY_RUN = [
    "--num_envs=2", "--num_steps=4", "--ppo_config.ppo_epoch=1", "--ppo_config.mini_batch_size=2",
    "--grad_accum_steps=1", "--generation_config.max_new_tokens=6", "--generation_config.temperature=1.0",
    "--optimizer_config.init_lr=1e-4", "--env_config.verify_iter=1",
]

WALL_CLOCK = {"wall_time", "update_seconds", "rollout_seconds", "env_steps_per_second", "tokens_per_second"}


def without_wall_clock(records: list[dict]) -> list[dict]:
    return [{k: v for k, v in record.items() if k not in WALL_CLOCK} for record in records]
