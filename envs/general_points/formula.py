"""Exact, total evaluation of a GeneralPoints formula such as "8/(3-8/3)=24". Never uses `eval`.

The grammar is binary + - * / over non-negative integer literals with parentheses, optionally followed by
"= <integer>". Arithmetic uses fractions, so 8/(3-8/3) is exactly 24. `evaluate_formula` accepts any input
(megabytes, deep nesting, `**`, unicode digits, NUL bytes) and returns a verdict in bounded time and memory:
the input is cut at a fixed length before any work, and the evaluator is iterative (no recursion).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

MAX_FORMULA_CHARS = 512
MAX_NUMBER_DIGITS = 6
_DIGITS = frozenset("0123456789")
_OPERATORS = {"+": 1, "-": 1, "*": 2, "/": 2}
_LOOKALIKES = str.maketrans({"×": "*", "÷": "/", "−": "-", "–": "-", "x": "*", "X": "*"})


@dataclass(frozen=True)
class FormulaVerdict:
    """Outcome of evaluating one formula: either a value and the numbers it used, or an error message."""

    value: Fraction | None
    numbers: tuple[int, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _fail(message: str) -> FormulaVerdict:
    return FormulaVerdict(None, (), message)


def evaluate_formula(formula: object) -> FormulaVerdict:
    """Evaluate `formula` exactly; the verdict's `error` says why an illegal formula is illegal."""
    if not isinstance(formula, str):
        return _fail("the formula is not a string")
    if len(formula) > MAX_FORMULA_CHARS:
        return _fail(f"the formula is longer than {MAX_FORMULA_CHARS} characters")
    text = formula.translate(_LOOKALIKES).strip()
    if not text:
        return _fail("the formula is empty")
    parts = text.split("=")
    if len(parts) > 2:
        return _fail("the formula has more than one '='")
    if len(parts) == 2 and not _is_integer_literal(parts[1].strip()):
        return _fail("the right side of '=' must be a single number")
    tokens = _tokenize(parts[0])
    if isinstance(tokens, str):
        return _fail(tokens)
    return _evaluate(tokens)


def _is_integer_literal(text: str) -> bool:
    return 0 < len(text) <= MAX_NUMBER_DIGITS and all(c in _DIGITS for c in text)


def _tokenize(text: str) -> list[str | int] | str:
    tokens: list[str | int] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char in " \t":
            index += 1
        elif char in _DIGITS:
            end = index
            while end < len(text) and text[end] in _DIGITS:
                end += 1
            if end - index > MAX_NUMBER_DIGITS:
                return f"a number in the formula has more than {MAX_NUMBER_DIGITS} digits"
            tokens.append(int(text[index:end]))
            index = end
        elif char in _OPERATORS or char in "()":
            if char == "*" and text[index + 1 : index + 2] == "*":
                return "'**' is not an allowed operator"
            tokens.append(char)
            index += 1
        else:
            shown = char if char.isprintable() else repr(char)
            return f"the formula contains the character {shown}, only digits, + - * / ( ) and = are allowed"
    if not tokens:
        return "the formula is empty"
    return tokens


def _evaluate(tokens: list[str | int]) -> FormulaVerdict:
    """Shunting-yard with a grammar check: operands and binary operators must alternate."""
    values: list[Fraction] = []
    operators: list[str] = []
    numbers: list[int] = []
    expect_operand = True
    for token in tokens:
        if isinstance(token, int):
            if not expect_operand:
                return _fail("two numbers follow each other without an operator")
            values.append(Fraction(token))
            numbers.append(token)
            expect_operand = False
        elif token == "(":
            if not expect_operand:
                return _fail("'(' follows a number without an operator")
            operators.append(token)
        elif token == ")":
            if expect_operand:
                return _fail("')' closes an empty or incomplete expression")
            while operators and operators[-1] != "(":
                error = _apply(operators.pop(), values)
                if error:
                    return _fail(error)
            if not operators:
                return _fail("the parentheses are unbalanced")
            operators.pop()
        else:
            if expect_operand:
                return _fail(f"'{token}' is missing a left operand (unary operators are not allowed)")
            while operators and operators[-1] != "(" and _OPERATORS[operators[-1]] >= _OPERATORS[token]:
                error = _apply(operators.pop(), values)
                if error:
                    return _fail(error)
            operators.append(token)
            expect_operand = True
    if expect_operand:
        return _fail("the formula ends with an operator")
    while operators:
        operator = operators.pop()
        if operator == "(":
            return _fail("the parentheses are unbalanced")
        error = _apply(operator, values)
        if error:
            return _fail(error)
    return FormulaVerdict(values[0], tuple(numbers))


def _apply(operator: str, values: list[Fraction]) -> str | None:
    right = values.pop()
    left = values.pop()
    if operator == "+":
        values.append(left + right)
    elif operator == "-":
        values.append(left - right)
    elif operator == "*":
        values.append(left * right)
    elif right == 0:
        return "the formula divides by zero"
    else:
        values.append(left / right)
    return None
