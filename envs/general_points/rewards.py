"""The GeneralPoints verifier: score one answer as the published environment does, and say why.

It follows the published verifier step by step (../shared/docs/published-rewards.md): read `formula` and
`cards` as the published reader does, cut the formula at its first `=`, check the cards (GP-VL), the
characters, the token sequence (-3 per violation), the numbers (-2 for a wrong or overused number, another -2
for an unused one), and only when nothing was wrong the value (+5) or the partial and prefix rules (-1).
Penalties add up, so rewards such as -4, -5 or -11 occur. Deliberate differences (exact arithmetic, a
penalty where the published code crashes, bounded work, the partial-solution reward off by default, cards
read as the answer holds them, the `lenient` reading option) are listed in docs/deviations.md.
The running-out-of-attempts -1 is the environment's business, not the verifier's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

from envs.answer_parsing import extract_fields, published_fields
from envs.general_points.cards import answer_cards
from envs.general_points.formula import (
    MAX_FORMULA_CHARS,
    evaluate_tokens,
    number_value,
    sequence_errors,
    tokenize,
)
from envs.general_points.published_solutions import published_solutions

CORRECT = 5.0
PARTIAL_SOLUTION = 1.0
NO_SOLUTION = -1.0
WRONG_CARDS = -1.5
WRONG_NUMBERS = -2.0
ILLEGAL = -3.0
ATTEMPTS_EXHAUSTED = -1.0
WRONG_VALUE = NO_SOLUTION
"""Former name of NO_SOLUTION (a legal formula with all the cards' numbers and the wrong value)."""

KINDS = {CORRECT: "CORRECT_SOLUTION", PARTIAL_SOLUTION: "PARTIAL_SOLUTION", NO_SOLUTION: "NO_SOLUTION",
         WRONG_CARDS: "INCORRECT_VISION", WRONG_NUMBERS: "INCORRECT_NUMBER", ILLEGAL: "ILLEGAL_FORMULA"}
"""The published statistics' names; a sum of penalties outside this table is "AGGREGATED_ERROR", as there."""

ANSWER_FIELDS = ("cards", "number", "formula")
MAX_MESSAGE_CHARS = 1_000
_LOOKALIKES = str.maketrans({"×": "*", "x": "*", "X": "*", "·": "*", "∗": "*", "＊": "*", "÷": "/", "∕": "/",
                             "／": "/", "−": "-", "–": "-", "—": "-", "－": "-", "＋": "+", "（": "(", "）": ")"})


@dataclass(frozen=True)
class Verdict:
    reward: float
    correct: bool
    message: str
    """The published "Verify Info": the reasons joined with ", " and ending with "."."""
    recognized_cards: bool | None = None
    """Whether the `cards` field matched the hand (None when not checked)."""
    cards_read: tuple[str, ...] | None = None
    """The cards as the verifier read them (GP-VL; empty when it could read none)."""

    @property
    def kind(self) -> str:
        return KINDS.get(self.reward, "AGGREGATED_ERROR")


def read_answer(answer: Any, lenient: bool = False) -> dict[str, Any]:
    """`formula` and `cards` as the published reader finds them ("None" when absent), or leniently."""
    fields = published_fields(answer, ("formula", "cards"))
    if lenient and len(fields) < 2:
        fields = {**extract_fields(answer, ("formula", "cards")), **fields}
    return {"formula": fields.get("formula", "None"), "cards": fields.get("cards", "None")}


def normalize_formula(formula: str) -> str:
    """The `lenient` reading of a formula: no whitespace, operator lookalikes as ASCII (x × ÷ −)."""
    return "".join(formula[: 4 * MAX_FORMULA_CHARS].split()).translate(_LOOKALIKES)


def verify_answer(
    answer: Any,
    plain_cards: Sequence[str],
    numbers: Sequence[int],
    target: int,
    check_cards: bool,
    solutions: Sequence[str] | None = None,
    partial_solution_reward: bool = False,
    lenient: bool = False,
) -> Verdict:
    """Score a raw model answer for a hand with card ranks `plain_cards` worth `numbers`.

    `solutions` are the strings the prefix rules compare with (default: the published solver's for this
    hand). `lenient` reads answers more leniently (docs/deviations.md) and then scores them the same way."""
    fields = read_answer(answer, lenient)
    recognized: bool | None = None
    cards_read: tuple[str, ...] | None = None
    if check_cards:
        cards_read = tuple(answer_cards(fields["cards"], lenient))
        recognized = sorted(cards_read) == sorted(plain_cards)
        if not recognized:
            return Verdict(WRONG_CARDS, False, "you recognized wrong cards", recognized, cards_read)
    formula = fields["formula"]
    if not isinstance(formula, str):
        return Verdict(ILLEGAL, False, "your formula is not text.", recognized, cards_read)
    if lenient:
        formula = normalize_formula(formula)
    formula = formula.split("=", 1)[0]
    reward, reasons = score_formula(formula, numbers, target, solutions, partial_solution_reward)
    message = ", ".join(reasons) + "."
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    return Verdict(reward, reward == CORRECT, message, recognized, cards_read)


def score_formula(
    formula: str,
    numbers: Sequence[int],
    target: int,
    solutions: Sequence[str] | None = None,
    partial_solution_reward: bool = False,
) -> tuple[float, list[str]]:
    """The published reward of a formula (already cut at `=`) and its reasons, in order."""
    if len(formula) > MAX_FORMULA_CHARS:
        return ILLEGAL, [f"your formula is longer than {MAX_FORMULA_CHARS} characters"]
    tokens = tokenize(formula)
    if tokens is None:
        return ILLEGAL, ["illegal characters"]
    reasons = sequence_errors(tokens)
    reward = ILLEGAL * len(reasons)
    number_reasons = _number_reasons([number_value(t) for t in tokens if t[0].isdecimal()], numbers)
    reward += WRONG_NUMBERS * len(number_reasons)
    reasons += number_reasons
    if reward != 0:
        return reward, reasons
    return _value_rules(formula, tokens, numbers, target, solutions, partial_solution_reward)


def _number_reasons(used: list[int | str], numbers: Sequence[int]) -> list[str]:
    have, counts = Counter(numbers), Counter(used)
    reasons = []
    invalid = [n for n in counts if n not in have]
    overused = [n for n in counts if counts[n] > have[n]]
    if invalid:
        reasons.append(f"you used invalid numbers: {invalid}")
    elif overused:
        reasons.append(f"you used numbers: {overused} too many times")
    underused = [n for n in have if have[n] > counts[n]]
    if underused:
        reasons.append(f"you didn't use numbers: {underused}")
    return reasons


def _value_rules(formula: str, tokens: list[str], numbers: Sequence[int], target: int,
                 solutions: Sequence[str] | None, partial_solution_reward: bool) -> tuple[float, list[str]]:
    evaluation = evaluate_tokens(tokens)
    if evaluation.error is None and evaluation.value == target:
        return CORRECT, ["Correct solution"]
    known = published_solutions(numbers, target) if solutions is None else solutions
    if evaluation.error is not None and any(s.startswith(formula) for s in known):
        if partial_solution_reward:
            return PARTIAL_SOLUTION, ["partial solution"]
        return NO_SOLUTION, [f"{formula} is partially correct but the formula is incomplete"]
    register = ""
    for token in tokens:
        previous, register = register, register + token
        if not any(s.startswith(register) for s in known):
            if not previous:
                return NO_SOLUTION, ["your formula does not match any solution"]
            return NO_SOLUTION, [f"{previous} is partially correct but the full formula does not match any solution"]
    return 0.0, []
