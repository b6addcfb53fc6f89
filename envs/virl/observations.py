"""The observation/action history shown in every V-IRL prompt (`obs_act_seq`).

Past positions show their oracle text and the expert action taken there; the current one shows its oracle
text (V-IRL-L) or "You observe an image of 4 views; " plus the intersection hint (V-IRL-VL), with an empty
action slot. As published, past observations stay oracle text in V-IRL-VL too.
"""

from __future__ import annotations

from typing import Sequence

from envs.virl.rail import INTERSECTION_SEEN

IMAGE_OBSERVATION = "You observe an image of 4 views"


def current_observation_text(oracle_text: str, language_only: bool) -> str:
    if language_only:
        return oracle_text
    hint = INTERSECTION_SEEN if INTERSECTION_SEEN in oracle_text else ""
    return f"{IMAGE_OBSERVATION}; {hint}"


def observation_action_sequence(observations: Sequence[str], actions: Sequence[str], language_only: bool) -> str:
    """`observations` has one more entry (the current position) than `actions`."""
    lines = []
    for i, action in enumerate(actions, start=1):
        lines.append(f"O_{i}: {observations[i - 1]}\nA_{i}: {action}\n")
    n = len(actions) + 1
    lines.append(f"O_{n}: {current_observation_text(observations[-1], language_only)}\nA_{n}: \n")
    return "".join(lines)
