"""The environments this package registers with gymnasium, and typed validation of `env_config` blocks.

A published config's `env_config` holds `id` plus the environment's keyword arguments. Each id maps to the
dataclass that defines those arguments, so a typo in a key is caught when the config is loaded, with a
suggestion, rather than as a TypeError deep inside `gym.make`.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import gymnasium as gym

GENERAL_POINTS_ID = "gym_cards/GeneralPoint-oneline-v0"
VIRL_ID = "gym_virl/Navigation-v0"

# id -> (entry point, "module:ConfigClass")
ENVIRONMENTS: dict[str, tuple[str, str]] = {
    GENERAL_POINTS_ID: ("envs.general_points.env:GeneralPointEnv", "envs.general_points.config:GeneralPointsConfig"),
    VIRL_ID: ("envs.virl.env:NavigationEnv", "envs.virl.config:VirlConfig"),
}


def register_all() -> None:
    """Register every environment id with gymnasium (idempotent)."""
    for env_id, (entry_point, _) in ENVIRONMENTS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry_point, max_episode_steps=300)


def config_class(env_id: str) -> type:
    module_name, class_name = ENVIRONMENTS[env_id][1].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def make_env(env_config: dict[str, Any], **overrides: Any) -> gym.Env:
    """`gym.make` from a validated `env_config` mapping (`id` plus keyword arguments)."""
    register_all()
    kwargs = {k: v for k, v in env_config.items() if k != "id"}
    kwargs.update(overrides)
    return gym.make(env_config["id"], **kwargs)


def env_kwargs(env_config: dict[str, Any]) -> Any:
    """The typed keyword arguments of an `env_config` mapping (its dataclass instance)."""
    cls = config_class(env_config["id"])
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in env_config.items() if k in names})


def make_prompter(env_config: dict[str, Any], template: str | None = None):
    """The `Prompter` (see envs.conversation) of the environment an env_config names."""
    kwargs = env_kwargs(env_config)
    if env_config["id"] == GENERAL_POINTS_ID:
        from envs.general_points.prompts import GeneralPointsPrompter

        return GeneralPointsPrompter(kwargs.treat_face_cards_as_10, kwargs.target_points, kwargs.language_only, template)
    if env_config["id"] == VIRL_ID:
        from envs.virl.prompts import VirlPrompter

        return VirlPrompter(kwargs.absolute_action, kwargs.language_only, template, kwargs.view_layout)
    raise ValueError(f"no prompter for environment {env_config['id']!r}")
