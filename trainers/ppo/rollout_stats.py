"""`RolloutStats`: what one rank's rollout saw, merged across ranks and turned into log keys.

Each field is named once, here: merging adds numbers, concatenates lists and merges the depth tally.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Iterable

import numpy as np

from trainers.ppo.success_estimate import StepsByDepth


@dataclass
class RolloutStats:
    env_steps: int = 0
    episodes: int = 0
    successes: int = 0
    episode_rewards: list[float] = field(default_factory=list)
    recognitions: list[bool] = field(default_factory=list)
    first_attempts: int = 0
    first_attempt_hits: int = 0
    steps_by_depth: StepsByDepth = field(default_factory=StepsByDepth)
    prompt_tokens: int = 0
    generated_tokens: int = 0
    bootstrap_tokens: int = 0
    seconds: float = 0.0

    def to_plain(self) -> dict[str, Any]:
        """Plain data (numbers and lists), for gathering across ranks."""
        plain = {f.name: getattr(self, f.name) for f in fields(self)}
        plain["steps_by_depth"] = self.steps_by_depth.as_lists()
        return plain

    @classmethod
    def merged(cls, parts: Iterable[dict[str, Any]]) -> "RolloutStats":
        """The sum of every rank's `to_plain()`."""
        total = cls()
        for part in parts:
            for f in fields(cls):
                value = part[f.name]
                if f.name == "steps_by_depth":
                    total.steps_by_depth.merge(StepsByDepth.from_lists(value))
                elif isinstance(value, list):
                    getattr(total, f.name).extend(value)
                else:
                    setattr(total, f.name, getattr(total, f.name) + value)
        return total

    def summary(self) -> dict[str, Any]:
        """Success, reward and accuracy figures (None where nothing was measured)."""
        rewards = np.asarray(self.episode_rewards, dtype=np.float64)
        return {
            "episodes": self.episodes,
            "success_rate": self.successes / self.episodes if self.episodes else None,
            "success_rate_estimate": self.steps_by_depth.success_rate(),
            "episode_reward_mean": float(rewards.mean()) if rewards.size else None,
            "episode_reward_std": float(rewards.std()) if rewards.size else None,
            "recognition_accuracy": float(np.mean(self.recognitions)) if self.recognitions else None,
            "first_attempt_accuracy": self.first_attempt_hits / self.first_attempts if self.first_attempts else None,
        }

    def log_keys(self) -> dict[str, Any]:
        """The update record's rollout keys."""
        return {"env_steps": self.env_steps, "generated_tokens": self.generated_tokens, **self.summary()}
