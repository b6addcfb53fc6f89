"""Keyword arguments of the GeneralPoints environment, under the published names and defaults."""

from __future__ import annotations

from dataclasses import dataclass

from envs.errors import InputError
from envs.general_points.cards import FaceCardsColor

# Published config keys that the environment accepts for compatibility and does not use.
IGNORED_PUBLISHED_KEYS = ("num_steps",)


@dataclass
class GeneralPointsConfig:
    target_points: int = 24
    """The number the formula must make."""
    treat_face_cards_as_10: bool = True
    """J/Q/K count as 10 (the training rule); False makes them 11/12/13 (the rule-OOD split)."""
    resolution: int = 1200
    """Side of the square GP-VL image, in pixels."""
    verify_iter: int = 5
    """Scored attempts per episode; the call after the last failed one returns -1 and truncates."""
    ood: bool = False
    """Every hand holds at least one J/Q/K."""
    language_only: bool = True
    """GP-L (text observation) when True, GP-VL (rendered image) when False."""
    face_cards_color: FaceCardsColor = "mixed"
    """Suits of all four cards: "black" (spades, clubs), "red" (hearts, diamonds) or "mixed"."""
    partial_solution_reward: bool = False
    """The published +1 for a formula that uses the cards' numbers but cannot be evaluated (an unclosed `(`)
    and is the start of a solution; off: -1, as a formula that is no solution (docs/deviations.md)."""
    lenient_answer_reading: bool = False
    """Read answers more leniently than the published reader: JSON variants (single quotes, unquoted keys,
    other spacing), whitespace and operator lookalikes (x, ×, ÷, −) in the formula, cards written as "HA",
    "T", "king" or in lower case. The formula read is then scored by the same rules (docs/deviations.md)."""
    num_steps: int | None = None
    """Published key, accepted and unused (the episode length is set by verify_iter)."""

    def __post_init__(self) -> None:
        if self.target_points < 1:
            raise InputError(f"target_points must be a positive integer, got {self.target_points}")
        if self.verify_iter < 1:
            raise InputError(f"verify_iter must be at least 1, got {self.verify_iter}")
        if self.resolution < 64:
            raise InputError(f"resolution must be at least 64 pixels, got {self.resolution}")
