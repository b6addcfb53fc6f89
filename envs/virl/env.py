"""The V-IRL navigation gymnasium environment (registered as `gym_virl/Navigation-v0`), offline only.

## Description
Follow a route's instruction through a city, one movable point (rail point) at a time. At each point the
agent answers JSON(-like) text `{"current observation": ..., "current instruction": ..., "action": ...}`; a
correct action moves it to the next point of the expert rail, a wrong one leaves it in place.

## Action Space
`Text`: the model's raw answer, parsed leniently (never evaluated). Actions: `forward()`, `stop()` and
`turn_direction(x)` with x one of 8 compass words (`absolute_action=True`) or left/right/slightly left/
slightly right (`absolute_action=False`, the rule-OOD split).

## Observation Space
V-IRL-L (`language_only=True`): `Text`, the oracle text, e.g. "Starbucks is on your left; You observe an
intersection". V-IRL-VL: `Box(0, 255, (2R+5, 2R+5, 3), uint8)` with R = `resolution`, the 2x2 grid of
street views projected from the point's panorama (see envs.virl.streetview for the layouts).

## Rewards
+1 correct action; -1.5 wrong action whose observation disagrees with the oracle about an intersection;
-1 other wrong action; -1 for the call after `verify_iter` failed attempts at one point (truncates).

## Episode End
Terminated after a correct `stop()` at the destination (route success). Truncated on the call after
`verify_iter` failed attempts at one point, as published (so `verify_iter` scored attempts per point).

## Information
`global_instruction`, `current_instruction`, `instruction_idx`, `gt_action` (= `expert_action`),
`current_obs` (oracle text), `obs_act_seq`, `Verify Info` (why the last attempt failed; None at reset and
after a correct move), `is_success` (no point ran out of attempts so far), `route_success` (True once the
route is completed), `step_correct` (the last call's verdict, None at reset), `reward_type`
(CORRECT_ACTION / INCORRECT_ACTION / INCORRECT_OBS / ATTEMPTS_EXHAUSTED), `route_idx`, `rail_index`,
`rail_length`, `Remaining Step`, `heading`, `geocode`, `pano_id`, `relative_action`, `absolute_action`.

## Starting State
`reset(options={"route_idx": i})` takes route i (ordered evaluation); otherwise a route is drawn with the
env's RNG. A route without `init_heading` (or 0, as in all published data) starts at a random heading.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from envs.answer_parsing import MAX_ANSWER_CHARS
from envs.errors import CheckpointError, InputError
from envs.virl import rewards
from envs.virl.config import VirlConfig
from envs.virl.instructions import numbered_instruction
from envs.virl.observations import observation_action_sequence
from envs.virl.pano_index import PanoIndex
from envs.virl.rail import RailError, RailPoint, RailSettings, build_rail
from envs.virl.routes import load_route_file
from envs.virl.streetview import PanoramaStore, StreetViewRenderer

EXHAUSTED_MESSAGE = "you used all attempts at this position"
# Oracle texts hold place names from the data; the Text space must accept any of them.
_TEXT_CHARSET = "".join(chr(c) for c in range(32, 0x3000)) + "\n"


class NavigationEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 1}

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        self.config = VirlConfig(**kwargs)
        self.render_mode = render_mode
        platform = self.config.platform
        self.route_file = load_route_file(self.config.route_info_path)
        self.routes = self.route_file.routes
        needs_panos = self.config.relocation or not self.config.language_only
        if needs_panos and platform.mapping_path is None:
            raise InputError(
                "platform_cfg.OFFLINE.GPS_TO_PANO_PATH is required "
                + ("with relocation on" if self.config.relocation else "for V-IRL-VL")
            )
        self.pano_index = PanoIndex.from_file(platform.mapping_path) if platform.mapping_path else None
        self.renderer: StreetViewRenderer | None = None
        if not self.config.language_only:
            if platform.panorama_dir is None:
                raise InputError("platform_cfg.OFFLINE.PANORAMA_DIR is required for V-IRL-VL (language_only: false)")
            self.renderer = StreetViewRenderer(
                PanoramaStore(platform.panorama_dir), platform.view_size, platform.fov, platform.pitch,
                self.config.resolution, self.config.view_layout,
            )
        self.settings = RailSettings(self.config.relocation, self.config.drop_rate, self.config.straight_line_length,
                                     platform.mapping_radius)
        side = 2 * self.config.resolution + 5
        if self.config.language_only:
            self.observation_space = spaces.Text(max_length=MAX_ANSWER_CHARS, charset=_TEXT_CHARSET)
        else:
            self.observation_space = spaces.Box(0, 255, (side, side, 3), dtype=np.uint8)
        self.action_space = spaces.Text(max_length=MAX_ANSWER_CHARS, charset=_TEXT_CHARSET)
        self._rail: list[RailPoint] = []
        self._sentences: list[str] = []
        self._route_idx = -1
        self._position = 0
        self._remaining = 0
        self._finished = True
        self._observations: list[str] = []
        self._actions: list[str] = []
        self._verify_info: str | None = None
        self._is_success = True
        self._route_success = False
        self._last_verdict: tuple[bool, str] | None = None

    # -- gymnasium API -------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        route_idx = (options or {}).get("route_idx")
        if route_idx is None:
            route_idx = int(self.np_random.integers(0, len(self.routes)))
        elif isinstance(route_idx, bool) or not isinstance(route_idx, (int, np.integer)) or not 0 <= route_idx < len(self.routes):
            raise InputError(f"options['route_idx'] must be an integer in [0, {len(self.routes)}), got {route_idx!r}")
        route = self.routes[int(route_idx)]
        start, start_pano = self._snap_start(route)
        heading = route.init_heading if route.init_heading else int(self.np_random.integers(0, 360))
        self._rail, self._sentences = build_rail(
            route, start, start_pano, heading, self.settings, self.np_random, self.pano_index, str(self.route_file.path)
        )
        self._route_idx = int(route_idx)
        self._position = 0
        self._remaining = self.config.verify_iter
        self._finished = False
        self._observations = [self._rail[0].oracle_observation]
        self._actions = []
        self._verify_info = None
        self._is_success = True
        self._route_success = False
        self._last_verdict = None
        return self._observation(), self._info()

    def step(self, action: Any):
        if self._finished:
            raise ResetNeeded("the episode has ended; call reset() before step()")
        point = self._rail[self._position]
        self._remaining -= 1
        if self._remaining < 0:
            self._finished = True
            self._is_success = False
            self._verify_info = EXHAUSTED_MESSAGE
            self._last_verdict = (False, "ATTEMPTS_EXHAUSTED")
            return self._observation(), rewards.ATTEMPTS_EXHAUSTED, False, True, self._info()
        expert = point.expert_action(self.config.absolute_action)
        verdict = rewards.verify_answer(action, expert, point.oracle_observation)
        self._last_verdict = (verdict.correct, verdict.kind)
        terminated = False
        if verdict.correct:
            self._verify_info = None
            if self._position == len(self._rail) - 1:
                terminated = self._finished = True
                self._route_success = self._is_success
            else:
                self._position += 1
                self._remaining = self.config.verify_iter
                self._actions.append(expert)
                self._observations.append(self._rail[self._position].oracle_observation)
        else:
            self._verify_info = verdict.message
        return self._observation(), verdict.reward, terminated, False, self._info()

    def render(self):
        if self.render_mode == "ansi":
            return self._current_info_text()
        if self.render_mode == "rgb_array":
            return self._grid() if self.renderer is not None else None
        return None

    # -- helpers -------------------------------------------------------------------------------------
    def _snap_start(self, route):
        if not self.config.relocation:
            return route.start, None
        found = self.pano_index.relocate(route.start, self.settings.mapping_radius)
        if found is None:
            raise RailError(
                f"{self.route_file.path}: route {route.index}: start {route.start} has no panorama within "
                f"{self.settings.mapping_radius:g} m in {self.pano_index.source}"
            )
        return found

    def _pano_of(self, point: RailPoint) -> str:
        if point.pano_id is not None:
            return point.pano_id
        found = self.pano_index.relocate(point.geocode, self.settings.mapping_radius)
        if found is None:
            raise RailError(
                f"{self.route_file.path}: route {self._route_idx}: no panorama within "
                f"{self.settings.mapping_radius:g} m of {point.geocode} (rail point {self._position})"
            )
        return found[1]

    def _grid(self) -> np.ndarray:
        point = self._rail[self._position]
        context = f"route {self._route_idx}, rail point {self._position}"
        return self.renderer.grid(self._pano_of(point), point.heading, context)

    def _observation(self):
        if self.config.language_only:
            return self._rail[self._position].oracle_observation
        return self._grid()

    def _current_info_text(self) -> str:
        point = self._rail[self._position]
        return f"route {self._route_idx} point {self._position}/{len(self._rail) - 1}: {point.oracle_observation}"

    def _info(self) -> dict[str, Any]:
        point = self._rail[self._position]
        return {
            "global_instruction": numbered_instruction(self._sentences),
            "current_instruction": point.instruction,
            "instruction_idx": point.instruction_idx,
            "gt_action": point.expert_action(self.config.absolute_action),
            "expert_action": point.expert_action(self.config.absolute_action),
            "absolute_action": point.absolute_action,
            "relative_action": point.relative_action,
            "current_obs": point.oracle_observation,
            "obs_act_seq": observation_action_sequence(self._observations, self._actions, self.config.language_only),
            "Verify Info": self._verify_info,
            "Remaining Step": max(self._remaining, 0),
            "is_success": self._is_success,
            "route_success": self._route_success,
            "step_correct": None if self._last_verdict is None else self._last_verdict[0],
            "reward_type": None if self._last_verdict is None else self._last_verdict[1],
            "route_idx": self._route_idx,
            "rail_index": self._position,
            "rail_length": len(self._rail),
            "heading": point.heading,
            "geocode": point.geocode,
            "pano_id": point.pano_id,
        }

    # -- checkpoint state (plain, JSON-able data) ----------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The episode in flight as JSON-able data: route, rail, position, attempts, history and the RNG."""
        from dataclasses import asdict

        return {"route_idx": self._route_idx, "position": self._position, "remaining": self._remaining,
                "finished": self._finished, "rail": [asdict(point) for point in self._rail],
                "sentences": list(self._sentences), "observations": list(self._observations),
                "actions": list(self._actions), "verify_info": self._verify_info, "is_success": self._is_success,
                "route_success": self._route_success,
                "last_verdict": None if self._last_verdict is None else list(self._last_verdict),
                "np_random": self.np_random.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`; the next steps then give the same observations and rewards."""
        rail = [RailPoint(**{**point, "geocode": tuple(point["geocode"])}) for point in state["rail"]]
        route_idx, position = state["route_idx"], state["position"]
        if not (isinstance(route_idx, int) and -1 <= route_idx < len(self.routes)):
            raise CheckpointError(f"V-IRL state: 'route_idx' must be a route of this route file, got {route_idx!r}")
        if not (isinstance(position, int) and 0 <= position < max(len(rail), 1)):
            raise CheckpointError(f"V-IRL state: 'position' {position!r} is not a point of its {len(rail)}-point rail")
        verdict = state["last_verdict"]
        self.np_random.bit_generator.state = state["np_random"]
        self._rail, self._sentences = rail, [str(s) for s in state["sentences"]]
        self._route_idx, self._position, self._remaining = route_idx, position, int(state["remaining"])
        self._finished, self._verify_info = bool(state["finished"]), state["verify_info"]
        self._observations = [str(o) for o in state["observations"]]
        self._actions = [str(a) for a in state["actions"]]
        self._is_success, self._route_success = bool(state["is_success"]), bool(state["route_success"])
        self._last_verdict = None if verdict is None else (bool(verdict[0]), str(verdict[1]))
