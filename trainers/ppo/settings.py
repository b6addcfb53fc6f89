"""The settings each stage of a PPO update reads, built from the run's config: rollout, returns, update.

Keyword-only, so a call site names every value it passes; `from_config` is the one place that maps config
keys to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from trainers.ppo.config import PPOTrainConfig


@dataclass(kw_only=True)
class RolloutSettings:
    temperature: float
    top_p: float
    max_new_tokens: int
    thought_prob_coef: float
    action_fields: Sequence[str]
    generation_batch_size: int | None = None
    forward_batch_size: int = 8
    scoring: str = "generation"
    """Where the buffer's log-probs and values come from: "generation" (the sampling pass itself) or
    "forward" (a second batched forward over prompt + answer, as the published trainer does)."""
    prefix_cache: bool = True
    """Continue each round's generation from the previous round's KV cache where the conversation goes on."""

    @classmethod
    def from_config(cls, config: "PPOTrainConfig") -> "RolloutSettings":
        generation, options = config.experiment.generation_config, config.options
        return cls(temperature=generation.temperature, top_p=generation.top_p, max_new_tokens=config.max_new_tokens,
                   thought_prob_coef=generation.thought_prob_coef, action_fields=config.action_fields,
                   generation_batch_size=options.generation_batch_size,
                   forward_batch_size=options.forward_batch_size, scoring=options.rollout_scoring,
                   prefix_cache=options.prefix_cache)


@dataclass(kw_only=True)
class ReturnSettings:
    """GAE over the buffer; without GAE, lambda = 1 (discounted Monte-Carlo returns)."""

    gamma: float
    gae_lambda: float
    use_gae: bool = True
    use_proper_time_limits: bool = False

    @classmethod
    def from_config(cls, config: "PPOTrainConfig") -> "ReturnSettings":
        returns = config.experiment.compute_return_kwargs
        return cls(gamma=returns.gamma, gae_lambda=returns.gae_lambda, use_gae=returns.use_gae,
                   use_proper_time_limits=returns.use_proper_time_limits)


@dataclass(kw_only=True)
class UpdateSettings:
    ppo_epoch: int
    mini_batch_size: int
    clip_param: float
    value_loss_coef: float
    temperature: float
    entropy_coef: float = 0.0
    use_entropy_bonus: bool = False
    ratio_normalization: str = "none"

    @classmethod
    def from_config(cls, config: "PPOTrainConfig") -> "UpdateSettings":
        ppo = config.experiment.ppo_config
        return cls(ppo_epoch=ppo.ppo_epoch, mini_batch_size=ppo.mini_batch_size, clip_param=ppo.clip_param,
                   value_loss_coef=ppo.value_loss_coef, temperature=config.experiment.generation_config.temperature,
                   entropy_coef=ppo.entropy_coef, use_entropy_bonus=ppo.use_entropy_bonus,
                   ratio_normalization=ppo.ratio_normalization)
