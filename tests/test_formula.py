"""The formula evaluator: the published tokens and sequence rules, exact arithmetic where the published code
used floats, Python-eval failures reproduced, and totality over hostile input."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.general_points.formula import MAX_NESTING, evaluate_formula, sequence_errors, tokenize


@pytest.mark.parametrize(
    "formula, value, numbers",
    [
        ("8/(3-8/3)", Fraction(24), (8, 3, 8, 3)),
        ("8/(3-8/3)=24", Fraction(24), (8, 3, 8, 3)),
        ("(1+6)*3+3=24", Fraction(24), (1, 6, 3, 3)),
        ("10-4-3", Fraction(3), (10, 4, 3)),
        ("2*3+4*5", Fraction(26), (2, 3, 4, 5)),
        ("7/2", Fraction(7, 2), (7, 2)),
        ("00+3*8", Fraction(24), (0, 3, 8)),
        ("3*8=2*12", Fraction(24), (3, 8)),
        ("8/(3-8/3)==24", Fraction(24), (8, 3, 8, 3)),
    ],
)
def test_legal_formulas_evaluate_exactly(formula, value, numbers):
    verdict = evaluate_formula(formula)
    assert verdict.ok, verdict.error
    assert verdict.value == value
    assert verdict.numbers == numbers


@pytest.mark.parametrize(
    "formula, reason",
    [
        ("", "empty"),
        ("1/(2-2)", "division by zero"),
        ("2**3", "invalid sequence after operator"),
        ("-3+27", "invalid sequence after operator"),
        ("(3+4", "never closed"),
        ("3+4)", "unmatched closing parenthesis"),
        ("3 4", "illegal characters"),
        ("3+", "ends with an operator"),
        ("3×8", "illegal characters"),
        ("__import__('os')", "illegal characters"),
        ("３*8", "not 0-9"),
        ("02*12", "leading zero"),
        ("(" * (MAX_NESTING + 1) + "7" + ")" * (MAX_NESTING + 1), "too many nested"),
    ],
)
def test_illegal_formulas_say_why(formula, reason):
    verdict = evaluate_formula(formula)
    assert not verdict.ok
    assert reason in verdict.error


@pytest.mark.parametrize(
    "formula, tokens",
    [
        ("(10+3+1)+10", ["(", "10", "+", "3", "+", "1", ")", "+", "10"]),
        ("0012*３", ["0012", "*", "３"]),
        ("1 +2", None),
        ("1\t+2", None),
        ("1+2.0", None),
        ("2^3", None),
        ("1−2", None),
    ],
)
def test_tokens_are_digit_runs_and_single_operators(formula, tokens):
    assert tokenize(formula) == tokens


@pytest.mark.parametrize(
    "formula, violations",
    [
        ("8/(3-8/3)", 0),
        ("8/(3-8/3", 0),  # an unclosed "(" is no sequence violation (the evaluation fails later)
        ("8*3-", 0),  # nor is a trailing operator
        ("--8", 2),
        ("8**3", 1),
        ("(8)(3)", 2),  # the second "(" is not opened, so its ")" is unmatched too
        ("8(3)", 2),
        ("())", 1),
        ("8)+3)", 2),
        ("()", 1),
    ],
)
def test_every_sequence_violation_is_counted(formula, violations):
    assert len(sequence_errors(tokenize(formula))) == violations


HOSTILE = [
    "9" * 5_000_000,
    "(" * 100_000 + "1" + ")" * 100_000,
    "9**9**9**9",
    "\x00" * 1000,
    "1+" * 1_000_000 + "1",
    "٣*٨",
    None,
    12,
    b"3*8",
]


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_input_gets_a_verdict_quickly(text):
    started = time.perf_counter()
    verdict = evaluate_formula(text)
    assert time.perf_counter() - started < 0.5
    assert not verdict.ok


def test_nesting_up_to_pythons_limit_still_evaluates():
    verdict = evaluate_formula("(" * MAX_NESTING + "7" + ")" * MAX_NESTING)
    assert verdict.ok and verdict.value == 7


@given(st.text(max_size=300))
@settings(max_examples=400, deadline=None)
def test_never_raises_on_any_text(text):
    verdict = evaluate_formula(text)
    assert verdict.ok == (verdict.error is None)


# Random expression trees rendered fully parenthesised; exact value computed independently with Fraction.
_leaf = st.integers(min_value=0, max_value=99).map(lambda n: (str(n), Fraction(n)))


def _combine(children):
    def build(args):
        (left_text, left_value), op, (right_text, right_value) = args
        if op == "/" and right_value == 0:
            return (f"({left_text}+{right_text})", left_value + right_value)
        value = {"+": left_value + right_value, "-": left_value - right_value, "*": left_value * right_value}.get(op)
        if value is None:
            value = left_value / right_value
        return (f"({left_text}{op}{right_text})", value)

    return st.tuples(children, st.sampled_from("+-*/"), children).map(build)


expressions = st.recursive(_leaf, _combine, max_leaves=8)


@given(expressions)
@settings(max_examples=300, deadline=None)
def test_agrees_with_exact_arithmetic(expression):
    text, value = expression
    verdict = evaluate_formula(text)
    assert verdict.ok, (text, verdict.error)
    assert verdict.value == value
