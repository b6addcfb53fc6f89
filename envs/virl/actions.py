"""V-IRL action strings: the absolute (8 compass headings) and relative (4 turn words) action spaces.

Actions are text: `forward()`, `turn_direction(x)` and `stop()`. A model's action is compared with the
expert's after trimming, lower-casing and collapsing whitespace (so `Turn_Direction( North )` matches).
"""

from __future__ import annotations

import re

from envs.virl.geometry import COMPASS_WORDS, RELATIVE_TURNS

FORWARD = "forward()"
STOP = "stop()"
MAX_ACTION_CHARS = 200


def turn(direction: str) -> str:
    return f"turn_direction({direction})"


def action_vocabulary(absolute: bool) -> tuple[str, ...]:
    words = COMPASS_WORDS if absolute else RELATIVE_TURNS
    return (FORWARD, *(turn(w) for w in words), STOP)


def action_space_text(absolute: bool) -> str:
    """The three lines describing the action space in the prompt."""
    if absolute:
        choices = "x could be any following 8 directions " + str(list(COMPASS_WORDS))
    else:
        choices = "x could be any following " + str(list(RELATIVE_TURNS))
    return (
        '"forward()": indicates moving forward one step\n'
        f'"turn_direction(x)": indicates adjust the ego agent direction towards x direction. {choices}\n'
        '"stop()": indicates the navigation is finished.'
    )


_SPACES = re.compile(r"\s+")
_PAREN_SPACES = re.compile(r"\s*([()])\s*")


def normalize_action(text: object) -> str:
    """A canonical form for comparison; anything that is not a short string becomes ""."""
    if not isinstance(text, str) or len(text) > MAX_ACTION_CHARS:
        return ""
    text = _SPACES.sub(" ", text.strip().lower())
    text = _PAREN_SPACES.sub(r"\1", text)
    return text.strip().strip("\"'`.").strip()
