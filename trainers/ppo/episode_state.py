"""The episodes in flight as plain, JSON-able data, for checkpoints: each environment's own `state_dict()`,
the conversation's turns (images as raw uint8 bytes in base64), the return and depth so far.

Nothing here runs code from a checkpoint: loading only reads numbers, strings and lists, and checks them.
"""

from __future__ import annotations

import base64
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.wrappers import OrderEnforcing, PassiveEnvChecker, TimeLimit

from envs.conversation import EpisodeConversation, Prompter, Turn
from envs.errors import CheckpointError

MAX_IMAGE_SIDE = 8192


def image_to_plain(image: np.ndarray) -> dict[str, Any]:
    array = np.ascontiguousarray(image, dtype=np.uint8)
    return {"shape": list(array.shape), "uint8_base64": base64.b64encode(array.tobytes()).decode("ascii")}


def image_from_plain(data: dict[str, Any]) -> np.ndarray:
    shape = data["shape"]
    if (not isinstance(shape, list) or not 2 <= len(shape) <= 3
            or not all(isinstance(n, int) and 0 < n <= MAX_IMAGE_SIDE for n in shape)):
        raise CheckpointError(f"an image's shape must be 2 or 3 sizes up to {MAX_IMAGE_SIDE}, got {shape!r}")
    raw = base64.b64decode(data["uint8_base64"], validate=True)
    if len(raw) != int(np.prod(shape)):
        raise CheckpointError(f"an image of shape {shape} holds {len(raw)} bytes instead of {int(np.prod(shape))}")
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape).copy()


def env_to_plain(env: gym.Env) -> dict[str, Any]:
    """The environment's own `state_dict()` plus its registration wrappers' counters."""
    state: dict[str, Any] = {"env": env.unwrapped.state_dict()}
    while isinstance(env, gym.Wrapper):
        if isinstance(env, TimeLimit):
            state["elapsed_steps"] = env._elapsed_steps
        elif isinstance(env, OrderEnforcing):
            state["has_reset"] = env._has_reset
        env = env.env
    return state


def env_from_plain(env: gym.Env, state: dict[str, Any]) -> None:
    env.unwrapped.load_state_dict(state["env"])
    while isinstance(env, gym.Wrapper):
        if isinstance(env, TimeLimit):
            elapsed = state["elapsed_steps"]
            if elapsed is not None and (isinstance(elapsed, bool) or not isinstance(elapsed, int)):
                raise CheckpointError(f"'elapsed_steps' must be an integer or null, got {elapsed!r}")
            env._elapsed_steps = elapsed
        elif isinstance(env, OrderEnforcing):
            env._has_reset = bool(state["has_reset"])
        elif isinstance(env, PassiveEnvChecker):
            # The checker's one-off checks ran in the run that wrote the checkpoint (they draw no random numbers).
            env.checked_reset = env.checked_step = env.checked_data_reuse = True
            env._previous_data = None
        env = env.env


def turns_to_plain(turns: list[Turn]) -> list[dict[str, Any]]:
    return [{"role": t.role, "text": t.text, "image": None if t.image is None else image_to_plain(t.image)}
            for t in turns]


def turns_from_plain(data: list[dict[str, Any]]) -> list[Turn]:
    turns = []
    for turn in data:
        role, text, image = turn["role"], turn["text"], turn["image"]
        if role not in ("user", "assistant") or not isinstance(text, str):
            raise CheckpointError(f"a turn needs role user/assistant and text, got role {role!r}")
        turns.append(Turn(role, text, None if image is None else image_from_plain(image)))
    return turns


def episodes_to_plain(envs: list, conversations: list[EpisodeConversation], returns: list[float],
                      depths: list[int]) -> list[dict[str, Any]]:
    return [{"env": env_to_plain(env), "turns": turns_to_plain(c.turns), "return": float(r), "depth": int(d)}
            for env, c, r, d in zip(envs, conversations, returns, depths)]


def episodes_from_plain(data: list[dict[str, Any]], envs: list, prompter: Prompter, enable_verification: bool):
    """(conversations, returns, depths), restoring each of `envs` in place."""
    if not isinstance(data, list) or len(data) != len(envs):
        count = len(data) if isinstance(data, list) else "no list of"
        raise CheckpointError(f"the checkpoint has {count} environments per rank, this run {len(envs)}")
    conversations, returns, depths = [], [], []
    for env, episode in zip(envs, data):
        env_from_plain(env, episode["env"])
        conversations.append(EpisodeConversation(prompter, enable_verification, turns_from_plain(episode["turns"])))
        if not isinstance(episode["return"], (int, float)) or not isinstance(episode["depth"], int):
            raise CheckpointError("an episode's return must be a number and its depth an integer")
        returns.append(float(episode["return"]))
        depths.append(int(episode["depth"]))
    return conversations, returns, depths
