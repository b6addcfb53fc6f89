"""GeneralPoints formulas as the published verifier sees them, evaluated exactly. Never uses `eval`.

Tokens are the maximal runs of decimal digits (any Unicode decimal digit, as Python's `\\d`) and the single
characters `+ - * / ( )`; any other character makes a formula illegal. `sequence_errors` lists the published
sequence violations (each costs -3). `evaluate_tokens` computes the value with fractions (8/(3-8/3) is exactly
24) and fails where the published code's Python `eval` raises: an unclosed `(`, a trailing operator, division
by zero, a literal with a leading zero (`02`), a non-ASCII digit, or parentheses nested deeper than CPython's
limit (200). Work is linear in the formula, which is cut at `MAX_FORMULA_CHARS` before any of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

MAX_FORMULA_CHARS = 16_384
MAX_NESTING = 200
"""CPython's parser limit: `eval` raises "too many nested parentheses" beyond 200 open `(`."""
OPERATORS = "+-*/"
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def tokenize(formula: str) -> list[str] | None:
    """The published tokens, or None when the formula holds any other character (or is over-long)."""
    if len(formula) > MAX_FORMULA_CHARS:
        return None
    tokens: list[str] = []
    index = 0
    length = len(formula)
    while index < length:
        char = formula[index]
        if char.isdecimal():
            end = index + 1
            while end < length and formula[end].isdecimal():
                end += 1
            tokens.append(formula[index:end])
            index = end
        elif char in "+-*/()":
            tokens.append(char)
            index += 1
        else:
            return None
    return tokens


def _kind(token: str) -> str:
    if token in OPERATORS:
        return "operator"
    if token == "(":
        return "open"
    if token == ")":
        return "close"
    return "number"


def sequence_errors(tokens: list[str]) -> list[str]:
    """One message per published sequence violation, in order (an unclosed `(` or trailing operator is none)."""
    errors: list[str] = []
    previous: str | None = None
    open_count = 0
    for token in tokens:
        kind = _kind(token)
        if kind == "number" and previous not in (None, "operator", "open"):
            errors.append("invalid sequence after number")
        elif kind == "operator" and previous not in ("number", "close"):
            errors.append("invalid sequence after operator")
        elif kind == "open":
            if previous in (None, "operator", "open"):
                open_count += 1
            else:
                errors.append("invalid sequence before '('")
        elif kind == "close":
            if previous not in ("number", "close"):
                errors.append("invalid sequence after ')'")
            elif open_count:
                open_count -= 1
            else:
                errors.append("unmatched closing parenthesis")
        previous = kind
    return errors


def number_value(token: str) -> int | str:
    """A digit run as the published `int(token)`; a run of more than 18 significant digits stays text
    (no hand holds it, and Python refuses to convert a few thousand digits)."""
    significant = token.lstrip("0") or "0"
    return int(significant) if len(significant) <= 18 else f"{significant[:12]}...({len(significant)} digits)"


@dataclass(frozen=True)
class Evaluation:
    value: Fraction | None
    error: str | None = None


def evaluate_tokens(tokens: list[str]) -> Evaluation:
    """Exact value of a formula whose tokens passed `sequence_errors`; `error` where Python's eval raises."""
    problem = _eval_blocker(tokens)
    if problem:
        return Evaluation(None, problem)
    values: list[Fraction] = []
    operators: list[str] = []
    for token in tokens:
        if token == "(":
            operators.append(token)
        elif token == ")":
            while operators[-1] != "(":
                if not _apply(operators.pop(), values):
                    return Evaluation(None, "division by zero")
            operators.pop()
        elif token in OPERATORS:
            while operators and operators[-1] != "(" and _PRECEDENCE[operators[-1]] >= _PRECEDENCE[token]:
                if not _apply(operators.pop(), values):
                    return Evaluation(None, "division by zero")
            operators.append(token)
        else:
            values.append(Fraction(int(token)))
    while operators:
        if not _apply(operators.pop(), values):
            return Evaluation(None, "division by zero")
    return Evaluation(values[0])


def _eval_blocker(tokens: list[str]) -> str | None:
    """Why Python could not even parse the formula (None when it could)."""
    if not tokens:
        return "empty formula"
    if _kind(tokens[-1]) == "operator":
        return "the formula ends with an operator"
    depth = deepest = 0
    for token in tokens:
        if token == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif token == ")":
            depth -= 1
        elif token[0].isdecimal() and not token.isascii():
            return "a digit that is not 0-9"
        elif token[0] == "0" and token.strip("0"):
            return "a number with a leading zero"
    if depth:
        return "a '(' is never closed"
    if deepest > MAX_NESTING:
        return "too many nested parentheses"
    return None


def _apply(operator: str, values: list[Fraction]) -> bool:
    right = values.pop()
    left = values.pop()
    if operator == "+":
        values.append(left + right)
    elif operator == "-":
        values.append(left - right)
    elif operator == "*":
        values.append(left * right)
    elif right == 0:
        return False
    else:
        values.append(left / right)
    return True


@dataclass(frozen=True)
class FormulaVerdict:
    """Outcome of evaluating one formula on its own: a value and the numbers it used, or why it has none."""

    value: Fraction | None
    numbers: tuple[int | str, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def evaluate_formula(formula: object) -> FormulaVerdict:
    """Evaluate `formula` (cut at its first `=`, as the published verifier does) exactly, or say why not."""
    if not isinstance(formula, str):
        return FormulaVerdict(None, (), "the formula is not a string")
    tokens = tokenize(formula.split("=", 1)[0])
    if tokens is None:
        return FormulaVerdict(None, (), "illegal characters")
    errors = sequence_errors(tokens)
    if errors:
        return FormulaVerdict(None, (), errors[0])
    evaluation = evaluate_tokens(tokens)
    numbers = tuple(number_value(t) for t in tokens if _kind(t) == "number")
    return FormulaVerdict(evaluation.value, numbers, evaluation.error)
