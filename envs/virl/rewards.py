"""Score one V-IRL answer against the expert action at the current rail point.

+1 correct action; -1.5 wrong action whose "current observation" disagrees with the oracle about being at an
intersection; -1 any other wrong action. The oracle compared against is the full text (landmark and
intersection part); the published code compared the landmark part only, so its -1.5 fired at every real
intersection (virl-data.md Q2). The out-of-attempts -1 is the environment's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envs.answer_parsing import extract_fields
from envs.virl.actions import normalize_action

CORRECT_ACTION = 1.0
INCORRECT_ACTION = -1.0
INCORRECT_OBSERVATION = -1.5
ATTEMPTS_EXHAUSTED = -1.0

ANSWER_FIELDS = ("current observation", "current instruction", "action")
_MAX_FIELD_CHARS = 2_000


@dataclass(frozen=True)
class Verdict:
    reward: float
    correct: bool
    kind: str
    """CORRECT_ACTION, INCORRECT_ACTION or INCORRECT_OBS (the published statistics' names)."""
    message: str | None
    """Why the attempt failed (None when correct), fed back as "You failed this trial because ..."."""
    action: str
    """The answer's action after normalisation ("" when none was found)."""


def _text(value: Any) -> str:
    return value[:_MAX_FIELD_CHARS] if isinstance(value, str) else ""


def verify_answer(answer: Any, expert_action: str, oracle_observation: str) -> Verdict:
    fields = extract_fields(answer, ANSWER_FIELDS)
    action = normalize_action(fields.get("action"))
    if action and action == normalize_action(expert_action):
        return Verdict(CORRECT_ACTION, True, "CORRECT_ACTION", None, action)
    said_intersection = "intersection" in _text(fields.get("current observation")).lower()
    at_intersection = "intersection" in oracle_observation.lower()
    if said_intersection and not at_intersection:
        return Verdict(INCORRECT_OBSERVATION, False, "INCORRECT_OBS", "you are not at any intersection", action)
    if at_intersection and not said_intersection:
        return Verdict(INCORRECT_OBSERVATION, False, "INCORRECT_OBS", "you are at an intersection", action)
    if not action:
        return Verdict(INCORRECT_ACTION, False, "INCORRECT_ACTION", "your answer has no action in the required format", action)
    return Verdict(INCORRECT_ACTION, False, "INCORRECT_ACTION", "you made an incorrect action", action)
