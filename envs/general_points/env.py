"""The GeneralPoints gymnasium environment (registered as `gym_cards/GeneralPoint-oneline-v0`).

## Description
Four cards are dealt; the agent answers with JSON `{"cards": [...], "number": [...], "formula": "..."}` whose
formula makes `target_points` from the four card numbers, each used once, with + - * / and parentheses.
GP-L observes the hand as text; GP-VL observes a rendered image of the table and must also read the cards.

## Action Space
`Text`: the model's raw answer. It is parsed leniently and never evaluated as code.

## Observation Space
GP-L (`language_only=True`): `Text`, e.g. "Cards: ['A', '3', 'K', '6']".
GP-VL: `Box(0, 255, (resolution, resolution, 3), uint8)`, the rendered table.

## Rewards
5 correct (terminates); -1 legal formula with the wrong value; -2 numbers that are not the cards' numbers;
-3 any other illegal answer; -1.5 (GP-VL) wrong cards recognised; -1 for a call after all `verify_iter`
attempts failed (truncates). With `partial_solution_reward=True`, +1 for an unevaluable prefix of a solution.

## Episode End
Terminated on a correct formula. Truncated on the call after `verify_iter` failed attempts, as in the
published code, so the agent gets exactly `verify_iter` scored attempts.

## Information
`Cards` (with suits, e.g. "HK"), `Plain Cards`, `Numbers` (values under the active face-card rule), `Solution`
(every distinct solution), `Remaining Step`, `Verify Info` (why the last attempt failed, fed back to the
model), `Target`, `Recognized Cards` (GP-VL, after a step).

## Starting State
`reset(options={"cards": ["3", "3", "8", "8"]})` fixes a hand (plain ranks or suited names like "H3");
otherwise ranks and suits are drawn independently (as the published code does) until the hand is solvable;
with `ood=True` one of the four ranks is always J, Q or K.
"""

from __future__ import annotations

import string
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

from envs.answer_parsing import MAX_ANSWER_CHARS
from envs.errors import CheckpointError, InputError
from envs.general_points import rewards
from envs.general_points.cards import FACE_RANKS, RANKS, SUITS_BY_COLOR, Card, parse_card, rank_value
from envs.general_points.config import GeneralPointsConfig
from envs.general_points.render import render_table
from envs.general_points.solver import solution_table, solutions

_TEXT_CHARSET = string.printable
_MAX_DRAWS = 10_000


class GeneralPointEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array", "ansi"], "render_fps": 1}

    def __init__(self, render_mode: str | None = None, **kwargs: Any) -> None:
        self.config = GeneralPointsConfig(**kwargs)
        self.render_mode = render_mode
        resolution = self.config.resolution
        if self.config.language_only:
            self.observation_space = spaces.Text(max_length=128, charset=_TEXT_CHARSET)
        else:
            self.observation_space = spaces.Box(0, 255, (resolution, resolution, 3), dtype=np.uint8)
        self.action_space = spaces.Text(max_length=MAX_ANSWER_CHARS, charset=_TEXT_CHARSET)
        self._suits = SUITS_BY_COLOR[self.config.face_cards_color]
        self._cards: list[Card] = []
        self._numbers: list[int] = []
        self._solutions: tuple[str, ...] = ()
        self._remaining = 0
        self._finished = True
        self._verify_info: str | None = None

    # -- dealing -------------------------------------------------------------------------------------
    def _value(self, rank: str) -> int:
        return rank_value(rank, self.config.treat_face_cards_as_10)

    def _draw_ranks(self) -> list[str]:
        table = solution_table(self.config.target_points)
        if not table:
            raise InputError(f"target_points {self.config.target_points}: no hand of 4 cards can make it; "
                             "choose a smaller target (the paper uses 24)")
        for _ in range(_MAX_DRAWS):
            if self.config.ood:
                ranks = [RANKS[i] for i in self.np_random.integers(0, len(RANKS), size=3)]
                ranks.append(FACE_RANKS[int(self.np_random.integers(0, len(FACE_RANKS)))])
                ranks = [ranks[i] for i in self.np_random.permutation(4)]
            else:
                ranks = [RANKS[i] for i in self.np_random.integers(0, len(RANKS), size=4)]
            if tuple(sorted(self._value(r) for r in ranks)) in table:
                return ranks
        raise InputError(f"target_points {self.config.target_points}: no solvable hand in {_MAX_DRAWS} draws (too "
                         "few hands can make it); choose a more reachable target such as 24")

    def _random_suit(self) -> str:
        return self._suits[int(self.np_random.integers(0, len(self._suits)))]

    def _deal(self, options: dict[str, Any] | None) -> list[Card]:
        fixed = (options or {}).get("cards")
        if fixed is None:
            return [Card(rank, self._random_suit()) for rank in self._draw_ranks()]
        if isinstance(fixed, str) or len(fixed) != 4:
            raise InputError(f"options['cards'] must be a list of 4 cards, got {fixed!r}")
        return [parse_card(card, self._random_suit()) for card in fixed]

    # -- gymnasium API -------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self._cards = self._deal(options)
        self._numbers = [self._value(card.rank) for card in self._cards]
        self._solutions = solutions(self._numbers, self.config.target_points)
        self._remaining = self.config.verify_iter
        self._finished = False
        self._verify_info = None
        return self._observation(), self._info()

    def step(self, action: Any):
        if self._finished:
            raise ResetNeeded("the episode has ended; call reset() before step()")
        if self._remaining <= 0:
            self._finished = True
            self._verify_info = "you used all attempts"
            return self._observation(), rewards.ATTEMPTS_EXHAUSTED, False, True, self._info()
        verdict = rewards.verify_answer(
            action,
            plain_cards=[card.rank for card in self._cards],
            numbers=self._numbers,
            target=self.config.target_points,
            check_cards=not self.config.language_only,
            partial_solution_reward=self.config.partial_solution_reward,
            lenient=self.config.lenient_answer_reading,
        )
        self._remaining -= 1
        self._finished = verdict.correct
        self._verify_info = None if verdict.correct else verdict.message
        info = self._info()
        if verdict.recognized_cards is not None:
            info["Recognized Cards"] = verdict.recognized_cards
        return self._observation(), verdict.reward, verdict.correct, False, info

    def render(self):
        if self.render_mode == "ansi":
            return self._text_observation()
        if self.render_mode == "rgb_array":
            return render_table(self._cards, self.config.resolution)
        return None

    # -- observation and info ------------------------------------------------------------------------
    def _text_observation(self) -> str:
        return "Cards: [" + ", ".join(f"'{card.rank}'" for card in self._cards) + "]"

    def _observation(self):
        if self.config.language_only:
            return self._text_observation()
        return render_table(self._cards, self.config.resolution)

    def _info(self) -> dict[str, Any]:
        return {
            "Cards": [card.name for card in self._cards],
            "Plain Cards": [card.rank for card in self._cards],
            "Numbers": list(self._numbers),
            "Solution": list(self._solutions),
            "Remaining Step": self._remaining,
            "Verify Info": self._verify_info,
            "Target": self.config.target_points,
        }

    # -- checkpoint state (plain, JSON-able data) ----------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The episode in flight as JSON-able data: the hand, attempts left, the last verdict and the RNG."""
        return {"cards": [card.name for card in self._cards], "remaining": self._remaining,
                "finished": self._finished, "verify_info": self._verify_info,
                "np_random": self.np_random.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`; the next steps then give the same observations and rewards."""
        cards = state["cards"]
        if not isinstance(cards, list) or len(cards) not in (0, 4) or not all(isinstance(c, str) for c in cards):
            raise CheckpointError(f"GeneralPoints state: 'cards' must be a list of 4 card names, got {cards!r}")
        remaining, verify_info = state["remaining"], state["verify_info"]
        if isinstance(remaining, bool) or not isinstance(remaining, int):
            raise CheckpointError(f"GeneralPoints state: 'remaining' must be an integer, got {remaining!r}")
        if verify_info is not None and not isinstance(verify_info, str):
            raise CheckpointError(f"GeneralPoints state: 'verify_info' must be text or null, got {verify_info!r}")
        self.np_random.bit_generator.state = state["np_random"]
        self._cards = [parse_card(card, self._suits[0]) for card in cards]
        self._numbers = [self._value(card.rank) for card in self._cards]
        self._solutions = solutions(self._numbers, self.config.target_points) if self._cards else ()
        self._remaining = remaining
        self._finished = bool(state["finished"])
        self._verify_info = verify_info
