"""The environments sftvsrl knows, their tasks and splits, and the helpers that make them from an `env_config`.

A published config's `env_config` holds `id` plus the environment's keyword arguments. Each id maps to one
`EnvSpec` (see `envs.spec`); everything else (trainers, evaluators, the CLI) asks this module, so no other place
tests an environment id.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Mapping

import gymnasium as gym

from envs.errors import InputError
from envs.general_points.spec import SPEC as GENERAL_POINTS
from envs.spec import EnvSpec, Split, Task, TaskAdapter
from envs.virl.spec import SPEC as VIRL

SPECS: tuple[EnvSpec, ...] = (GENERAL_POINTS, VIRL)
ENVIRONMENTS: dict[str, EnvSpec] = {spec.id: spec for spec in SPECS}
DEFAULT_ENV_ID = GENERAL_POINTS.id
TASKS: dict[str, Task] = {task.name: task for spec in SPECS for task in spec.tasks}
SPLITS: dict[str, Split] = {split.key: split for spec in SPECS for split in spec.splits}


class UnknownEnvironment(InputError):
    """An env_config names an environment id (or a task) that is not registered."""


def spec_for(env_id: str | Mapping[str, Any]) -> EnvSpec:
    """The spec of an environment id, or of an env_config mapping (whose `id` defaults to GeneralPoints)."""
    if isinstance(env_id, Mapping):
        env_id = env_id.get("id", DEFAULT_ENV_ID)
    spec = ENVIRONMENTS.get(str(env_id))
    if spec is None:
        close = difflib.get_close_matches(str(env_id), list(ENVIRONMENTS), n=1, cutoff=0.6)
        hint = f" (did you mean '{close[0]}'?)" if close else f"; known: {', '.join(ENVIRONMENTS)}"
        raise UnknownEnvironment(f"unknown environment id {env_id!r}{hint}")
    return spec


def spec_of_task(task: str) -> EnvSpec:
    return spec_for(get_task(task).env_id)


def get_task(task: str) -> Task:
    if task not in TASKS:
        raise UnknownEnvironment(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")
    return TASKS[task]


def task_of_env_config(env_config: Mapping[str, Any]) -> str:
    """The task an env_config describes (`gp-l`, `gp-vl`, `virl-l`, `virl-vl`)."""
    spec = spec_for(env_config)
    language_only = bool(env_config.get("language_only", True))
    for task in spec.tasks:
        if task.language_only == language_only:
            return task.name
    raise UnknownEnvironment(f"no task of {spec.id!r} with language_only={language_only}")


def register_all() -> None:
    """Register every environment id with gymnasium (idempotent)."""
    for spec in SPECS:
        if spec.id not in gym.registry:
            gym.register(id=spec.id, entry_point=spec.entry_point, max_episode_steps=300)


def config_class(env_id: str) -> type:
    return spec_for(env_id).config_class()


def env_defaults(env_id: str) -> dict[str, Any]:
    """The keyword arguments' defaults of an environment."""
    return {f.name: f.default for f in dataclasses.fields(config_class(env_id)) if f.default is not dataclasses.MISSING}


def make_env(env_config: Mapping[str, Any], **overrides: Any) -> gym.Env:
    """`gym.make` from a validated `env_config` mapping (`id` plus keyword arguments)."""
    register_all()
    kwargs = {k: v for k, v in env_config.items() if k != "id"}
    kwargs.update(overrides)
    return gym.make(spec_for(env_config).id, **kwargs)


def env_kwargs(env_config: Mapping[str, Any]) -> Any:
    """The typed keyword arguments of an `env_config` mapping (its dataclass instance)."""
    cls = config_class(spec_for(env_config).id)
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in env_config.items() if k in names})


def make_prompter(env_config: Mapping[str, Any], template: str | None = None):
    """The `Prompter` (see envs.conversation) of the environment an env_config names."""
    return spec_for(env_config).prompter(env_kwargs(env_config), template)


def make_adapter(env_config: Mapping[str, Any]) -> TaskAdapter:
    """The `TaskAdapter` (see envs.spec) of the environment an env_config names."""
    return spec_for(env_config).adapter(env_kwargs(env_config))


def load_prompt_template(env_config: Mapping[str, Any], path: str | None) -> str | None:
    """A user's prompt template file, checked against the variables its environment's prompts offer."""
    if not path:
        return None
    from envs.prompt_templates import load_template

    return load_template(path, spec_for(env_config).template_variables())
