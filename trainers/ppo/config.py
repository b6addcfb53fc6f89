"""The typed configuration of a PPO run: the published `ExperimentConfig` keys plus run options.

Derived sizes are resolved and checked once here (`rounds`, `grad_accum`, `max_new_tokens`, `action_fields`),
so the trainer never meets an inconsistent setting halfway through a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from trainers.config.errors import ConfigError
from trainers.config.schema import ExperimentConfig

REPORT_TARGETS = ("none", "wandb", "tensorboard")
RATIO_NORMALIZATIONS = ("none", "length")
ROLLOUT_SCORINGS = ("generation", "forward")
SCHEMA_DEFAULT_PATTERN = ["formula"]


@dataclass
class PPORunOptions:
    """Options of `sftvsrl ppo` that are not keys of the published configs."""

    model: str | None = None
    """Policy init: a folder, hub id or built-in name; None = the built-in tiny model after its own SFT init."""
    eval_every: int = 0
    """Evaluate on the environment's ID and OOD splits every K updates (0: never)."""
    eval_episodes: int = 32
    deepspeed: str | dict | None = None
    """A packaged DeepSpeed config by name (zero2, zero2_offload, zero3, zero3_offload), a JSON file, or the
    DeepSpeed config of `accelerate launch`'s inline settings; None runs plain PyTorch in one process."""
    offload_optimizer: bool = False
    gradient_checkpointing: bool | None = None
    """Recompute activations in the update's backward pass; None: on for models over ~1B parameters."""
    resume: bool = False
    dtype: str | None = None
    generation_batch_size: int | None = None
    forward_batch_size: int = 8
    rollout_scoring: str = "generation"
    """The buffer's log-probs and values: from the sampling pass ("generation") or from a second forward over
    prompt + answer ("forward", the published trainer's way; exact to the bit against the update's forward)."""
    prefix_cache: bool = True
    """Continue each rollout round from the previous round's KV cache where an episode's conversation goes on
    (text prompts in one batch); False prefills every prompt afresh."""
    cpu_threads: int | None = None
    """torch threads on a CPU; None: 1 for models under 100M parameters (on a small shared CPU, several
    threads per process mostly wait for each other: 1 thread ran the tiny model's rollouts ~8x faster on 2
    cores), torch's default otherwise."""
    init_sft_records: int = 2000
    """GP-L/GP-VL records of the built-in tiny model's SFT initialisation."""


@dataclass
class PPOTrainConfig:
    experiment: ExperimentConfig
    options: PPORunOptions = field(default_factory=PPORunOptions)

    def __post_init__(self) -> None:
        x, o = self.experiment, self.options
        positive = {"num_steps": x.num_steps, "num_updates": x.num_updates, "grad_accum_steps": x.grad_accum_steps,
                    "num_envs": x.num_envs, "ppo_config.ppo_epoch": x.ppo_config.ppo_epoch,
                    "ppo_config.mini_batch_size": x.ppo_config.mini_batch_size, "save_every": x.save_every,
                    "optimizer_config.lr_max_steps": x.optimizer_config.lr_max_steps,
                    "generation_config.max_new_tokens": self.max_new_tokens}
        for key, value in positive.items():
            if value < 1:
                raise ConfigError(f"'{key}' must be at least 1, got {value}")
        if x.num_steps % x.num_envs:
            raise ConfigError(f"'num_steps' ({x.num_steps}) must be a multiple of 'num_envs' ({x.num_envs}): "
                              "each rollout round steps every environment once")
        if x.ppo_config.mini_batch_size > x.num_steps:
            raise ConfigError(f"'ppo_config.mini_batch_size' ({x.ppo_config.mini_batch_size}) is larger than the "
                              f"buffer ('num_steps' = {x.num_steps} transitions per rank); lower it or raise num_steps")
        if self.microbatches_per_epoch % self.grad_accum:
            raise ConfigError(
                f"'grad_accum_steps' ({x.grad_accum_steps}) must divide the mini-batches per epoch "
                f"(num_steps / mini_batch_size = {self.microbatches_per_epoch}) or be at least that many")
        if x.generation_config.temperature < 0:
            raise ConfigError("'generation_config.temperature' must be >= 0")
        if not 0.0 <= x.generation_config.thought_prob_coef:
            raise ConfigError("'generation_config.thought_prob_coef' must be >= 0")
        if x.ppo_config.ratio_normalization not in RATIO_NORMALIZATIONS:
            raise ConfigError(f"'ppo_config.ratio_normalization' must be one of {', '.join(RATIO_NORMALIZATIONS)}, "
                              f"got {x.ppo_config.ratio_normalization!r}")
        if o.rollout_scoring not in ROLLOUT_SCORINGS:
            raise ConfigError(f"rollout scoring must be one of {', '.join(ROLLOUT_SCORINGS)}, got {o.rollout_scoring!r}")
        if o.eval_every < 0:
            raise ConfigError(f"eval_every must be >= 0, got {o.eval_every}")
        report = (x.report_to or "none").lower()
        if report not in REPORT_TARGETS:
            raise ConfigError(f"'report_to' must be one of {', '.join(REPORT_TARGETS)}, got {x.report_to!r}")

    @property
    def rounds(self) -> int:
        """Rollout rounds per update: every round steps each of the num_envs environments once."""
        return self.experiment.num_steps // self.experiment.num_envs

    @property
    def microbatches_per_epoch(self) -> int:
        mini = self.experiment.ppo_config.mini_batch_size
        return -(-self.experiment.num_steps // mini)

    @property
    def grad_accum(self) -> int:
        """grad_accum_steps, capped at the mini-batches of one epoch (a small run still steps every epoch)."""
        return min(self.experiment.grad_accum_steps, self.microbatches_per_epoch)

    @property
    def max_new_tokens(self) -> int:
        generation = self.experiment.generation_config
        return generation.max_tokens if generation.max_tokens is not None else generation.max_new_tokens

    @property
    def language_only(self) -> bool:
        return bool(self.experiment.env_config.get("language_only", True))

    @property
    def action_fields(self) -> list[str]:
        """prompt_config.pattern_language / pattern_vision, or the environment's action field when they are
        left at the schema's GeneralPoints default (the published V-IRL configs do not set them)."""
        prompt = self.experiment.prompt_config
        patterns = list(prompt.pattern_language if self.language_only else prompt.pattern_vision)
        if patterns == SCHEMA_DEFAULT_PATTERN:
            from envs.registry import spec_for

            return list(spec_for(self.experiment.env_config).action_fields)
        return patterns

    @property
    def report_to(self) -> str:
        return (self.experiment.report_to or "none").lower()
