"""What the rest of sftvsrl knows about an environment: one `EnvSpec` per environment, nothing else.

An environment package (`envs/general_points`, `envs/virl`) describes itself in its `spec.py`: its gymnasium
id, config dataclass, prompter, task adapter (how an answer is scored, when an episode succeeds, the expert's
answer), template variables, action field, tasks (text and vision variants) and their ID/OOD splits. Trainers,
evaluators and the CLI read these specs through `envs.registry`; none of them tests an environment id.

Adding an environment means writing its package and its `spec.py`, and listing the spec in `envs.registry`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

# Primary metric of each kind of split (what the paper's tables report).
SUCCESS = "success"  # episode success within verify_iter attempts (GP); route success (V-IRL)
STEP_ACCURACY = "step_accuracy"  # V-IRL per-step accuracy, retries counted as samples
RECOGNITION = "recognition"  # GP-VL: the `cards` field names the hand


class TaskAdapter(Protocol):
    """How episodes of one environment are scored and logged (evaluation, PPO statistics, the oracle)."""

    def step_fields(self, answer: str, reward: float, before: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
        """Per-step log fields: `correct`, plus task-specific ones; `before` is the info the answer was given
        on, `info` the environment's reply."""
        ...

    def episode_success(self, terminated: bool, truncated: bool, info: Mapping[str, Any]) -> bool: ...

    def needs_model(self, info: Mapping[str, Any]) -> bool:
        """False when the next step only closes the episode (all attempts used) and any answer does."""
        ...

    def expert_answer(self, info: Mapping[str, Any]) -> str: ...

    def episode_fields(self, info: Mapping[str, Any]) -> dict[str, Any]:
        """What identifies the episode in the log (the hand, the route)."""
        ...


@dataclass(frozen=True)
class Task:
    """A variant of an environment that the study trains and evaluates on (`gp-l`, `virl-vl`, ...)."""

    name: str
    env_id: str
    base_env_config: Mapping[str, Any]
    description: str

    @property
    def language_only(self) -> bool:
        return bool(self.base_env_config.get("language_only", True))


@dataclass(frozen=True)
class Split:
    """A named evaluation split of a task: `id`, `rule-ood` or `visual-ood` (paper section 3)."""

    task: str
    name: str
    rule_keys: Mapping[str, Any]
    """env_config keys that define the split; they override whatever the user's config says."""
    description: str
    primary_metric: str
    num_traj: int
    """Published evaluation size."""
    seed: int
    """Published evaluation seed."""
    ordered: bool = False
    """Episode i plays route i of the route file (the published `--order` evaluation) instead of a drawn one."""
    requires: tuple[str, ...] = field(default=())
    """env_config keys the user must supply (data paths)."""
    other_data: bool = False
    """Runs on other data than training (V-IRL visual OOD: other cities' routes), given separately."""

    @property
    def key(self) -> str:
        return f"{self.task}/{self.name}"


@dataclass(frozen=True)
class EnvSpec:
    """One environment. Callables are named as `module:attribute` and imported on first use, so reading the
    registry stays cheap (no image or torch imports until an environment is actually made)."""

    id: str
    """The gymnasium id, as published configs write it in `env_config.id`."""
    name: str
    """Short name used in task names and data folders (`gp`, `virl`)."""
    description: str
    entry_point: str
    config_path: str
    """The dataclass of the environment's keyword arguments (what `env_config` may hold besides `id`)."""
    prompter_path: str
    """A factory `(env kwargs dataclass, template or None) -> Prompter`."""
    adapter_path: str
    """A factory `(env kwargs dataclass) -> TaskAdapter`."""
    template_variables_path: str
    action_fields: tuple[str, ...]
    """The answer field(s) that hold the action when the config names no other."""
    tasks: tuple[Task, ...]
    splits: tuple[Split, ...]
    builtin_init: bool = False
    """The built-in tiny models have a cached SFT initialisation for this environment (`sftvsrl ppo` without
    `--model`)."""

    def config_class(self) -> type:
        return _load(self.config_path)

    def template_variables(self) -> tuple[str, ...]:
        return tuple(_load(self.template_variables_path))

    def prompter(self, env_kwargs: Any, template: str | None = None):
        return _load(self.prompter_path)(env_kwargs, template)

    def adapter(self, env_kwargs: Any) -> TaskAdapter:
        return _load(self.adapter_path)(env_kwargs)


def reads_images(env_config: Mapping[str, Any]) -> bool:
    """Whether the model must read images (the vision variant) for this env_config."""
    return not bool(env_config.get("language_only", True))


def _load(path: str) -> Any:
    module_name, attribute = path.split(":")
    return getattr(importlib.import_module(module_name), attribute)

