"""The templated route instruction: two numbered sentences per milestone, as the published env writes them.

For milestone k with relative word `rel` and compass word `dir`: "First, turn {rel} to face {dir}." (k = 0,
when the route has more than one milestone) or "Turn {rel} to face {dir}.", then "Move forward until you
reach next intersection[ where {landmark}]." or, for the last one, "Move forward until you reach destination
where {landmark}.". Both action spaces get the same text (relative and absolute words together).
"""

from __future__ import annotations

from typing import Sequence

from envs.virl.geometry import relative_turn
from envs.virl.routes import NO_LANDMARK, Milestone


def relative_words(initial_heading: float, milestones: Sequence[Milestone]) -> list[str]:
    """The relative turn word at each milestone: from the arrival heading to the next segment's heading."""
    words = []
    previous = initial_heading
    for milestone in milestones:
        words.append(relative_turn(previous, milestone.heading))
        previous = milestone.heading
    return words


def instruction_sentences(initial_heading: float, milestones: Sequence[Milestone]) -> list[str]:
    sentences: list[str] = []
    last = len(milestones) - 1
    for k, (milestone, rel) in enumerate(zip(milestones, relative_words(initial_heading, milestones))):
        opening = "First, turn" if k == 0 and k < last else "Turn"
        sentences.append(f"{opening} {rel} to face {milestone.direction}.")
        if k == last:
            sentences.append(f"Move forward until you reach destination where {milestone.landmark}.")
        elif milestone.landmark == NO_LANDMARK:
            sentences.append("Move forward until you reach next intersection.")
        else:
            sentences.append(f"Move forward until you reach next intersection where {milestone.landmark}.")
    return sentences


def numbered_instruction(sentences: Sequence[str]) -> str:
    """`"1. ...\\n2. ...\\n"`: the global instruction shown in every prompt."""
    return "".join(f"{i}. {sentence}\n" for i, sentence in enumerate(sentences, start=1))
