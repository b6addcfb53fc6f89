"""The GeneralPoints verifier: score one answer against the hand and explain the verdict in one line.

Rewards follow the paper (App. A.3): 5 correct, -1 legal but wrong value, -2 numbers that are not the cards'
numbers (each used exactly once), -3 any other illegal answer, -1.5 wrong cards recognised (vision only).
The running-out-of-attempts -1 is the environment's business, not the verifier's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from envs.answer_parsing import extract_fields
from envs.general_points.cards import normalize_rank
from envs.general_points.formula import evaluate_formula

CORRECT = 5.0
WRONG_VALUE = -1.0
WRONG_NUMBERS = -2.0
ILLEGAL = -3.0
WRONG_CARDS = -1.5
PARTIAL_SOLUTION = 1.0
ATTEMPTS_EXHAUSTED = -1.0

ANSWER_FIELDS = ("cards", "number", "formula")


@dataclass(frozen=True)
class Verdict:
    reward: float
    correct: bool
    message: str
    recognized_cards: bool | None = None
    """Whether the `cards` field matched the hand (None when not checked)."""


def _plain_ranks(cards: Any) -> list[str] | None:
    if not isinstance(cards, (list, tuple)) or len(cards) > 16:
        return None
    ranks = []
    for card in cards:
        text = str(card).strip().upper()
        rank = normalize_rank(text) or (normalize_rank(text[1:]) if text[:1] in "HDSC" else None)
        if rank is None:
            return None
        ranks.append(rank)
    return ranks


def verify_answer(
    answer: Any,
    plain_cards: Sequence[str],
    numbers: Sequence[int],
    target: int,
    check_cards: bool,
    solutions: Sequence[str] = (),
    partial_solution_reward: bool = False,
) -> Verdict:
    """Score a raw model answer for a hand with card ranks `plain_cards` worth `numbers`."""
    fields = extract_fields(answer, ANSWER_FIELDS)
    recognized: bool | None = None
    if check_cards:
        recognized = sorted(_plain_ranks(fields.get("cards")) or []) == sorted(plain_cards)
        if not recognized:
            return Verdict(WRONG_CARDS, False, "you recognized wrong cards", recognized)
    formula = fields.get("formula")
    if not isinstance(formula, str):
        return Verdict(ILLEGAL, False, "your answer has no formula in the required JSON format", recognized)
    outcome = evaluate_formula(formula)
    if not outcome.ok:
        if partial_solution_reward and _is_solution_prefix(formula, solutions):
            return Verdict(PARTIAL_SOLUTION, False, "your formula is incomplete", recognized)
        return Verdict(ILLEGAL, False, f"your formula is illegal: {outcome.error}", recognized)
    if Counter(outcome.numbers) != Counter(numbers):
        return Verdict(WRONG_NUMBERS, False, "your formula must use each card's number exactly once", recognized)
    if outcome.value != target:
        shown = outcome.value if outcome.value.denominator == 1 else f"{float(outcome.value):.4g}"
        return Verdict(WRONG_VALUE, False, f"your formula evaluates to {shown}, not {target}", recognized)
    return Verdict(CORRECT, True, "your formula is correct", recognized)


def _is_solution_prefix(formula: str, solutions: Sequence[str]) -> bool:
    compact = "".join(formula.split())
    return bool(compact) and len(compact) <= 64 and any(s.startswith(compact) for s in solutions)
