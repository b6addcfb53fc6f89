"""All solutions of every four-number hand, computed once per target and cached.

A hand is a sorted tuple of four values in 1..13 (1820 hands cover both face-card rules). Every ordering of
the numbers, every choice of three operators and every one of the five binary-tree shapes is evaluated at once
with numpy in floating point; candidates near the target are then confirmed with exact fractions and rendered
with the fewest parentheses. The table (about half a second to build) is kept in memory, so `reset()` only
does a lookup.
"""

from __future__ import annotations

import functools
import itertools
from fractions import Fraction
from typing import Union

import numpy as np

Hand = tuple[int, int, int, int]
Node = Union[int, tuple[str, "Node", "Node"]]

MAX_CARD_VALUE = 13
OPERATORS = ("+", "-", "*", "/")
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}

# The five shapes of a binary tree with four leaves a, b, c, d (in order) and operators o1, o2, o3.
SHAPES = (
    lambda a, b, c, d, o1, o2, o3: (o3, (o2, (o1, a, b), c), d),
    lambda a, b, c, d, o1, o2, o3: (o3, (o1, a, (o2, b, c)), d),
    lambda a, b, c, d, o1, o2, o3: (o1, a, (o3, (o2, b, c), d)),
    lambda a, b, c, d, o1, o2, o3: (o1, a, (o2, b, (o3, c, d))),
    lambda a, b, c, d, o1, o2, o3: (o2, (o1, a, b), (o3, c, d)),
)


def all_hands() -> list[Hand]:
    """Every multiset of four values in 1..13, as sorted tuples."""
    return list(itertools.combinations_with_replacement(range(1, MAX_CARD_VALUE + 1), 4))  # type: ignore[return-value]


def render(node: Node) -> str:
    """Infix text with only the parentheses the precedence rules need."""
    if isinstance(node, int):
        return str(node)
    operator, left, right = node
    left_text, right_text = render(left), render(right)
    if not isinstance(left, int) and _PRECEDENCE[left[0]] < _PRECEDENCE[operator]:
        left_text = f"({left_text})"
    if not isinstance(right, int) and (
        _PRECEDENCE[right[0]] < _PRECEDENCE[operator]
        or (_PRECEDENCE[right[0]] == _PRECEDENCE[operator] and operator in "-/")
    ):
        right_text = f"({right_text})"
    return f"{left_text}{operator}{right_text}"


def exact_value(node: Node) -> Fraction | None:
    if isinstance(node, int):
        return Fraction(node)
    operator, left, right = node
    a, b = exact_value(left), exact_value(right)
    if a is None or b is None:
        return None
    if operator == "+":
        return a + b
    if operator == "-":
        return a - b
    if operator == "*":
        return a * b
    return None if b == 0 else a / b


def _float_op(operator: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if operator == "+":
        return a + b
    if operator == "-":
        return a - b
    if operator == "*":
        return a * b
    return np.divide(a, b, out=np.full_like(a, np.nan), where=b != 0)


def float_eval(node, columns: dict[str, np.ndarray]) -> np.ndarray:
    if isinstance(node, str):
        return columns[node]
    operator, left, right = node
    return _float_op(operator, float_eval(left, columns), float_eval(right, columns))


def _bind(node, leaves: dict[str, int]) -> Node:
    if isinstance(node, str):
        return leaves[node]
    operator, left, right = node
    return (operator, _bind(left, leaves), _bind(right, leaves))


def compute_solutions(target: int) -> dict[Hand, tuple[str, ...]]:
    """Solve every hand for `target`; hands without a solution are absent."""
    rows: list[tuple[int, ...]] = []
    owners: list[Hand] = []
    for hand in all_hands():
        for ordering in sorted(set(itertools.permutations(hand))):
            rows.append(ordering)
            owners.append(hand)
    table = np.asarray(rows, dtype=np.float64)
    columns = {"a": table[:, 0], "b": table[:, 1], "c": table[:, 2], "d": table[:, 3]}
    found: dict[Hand, set[str]] = {}
    with np.errstate(all="ignore"):
        for o1, o2, o3 in itertools.product(OPERATORS, repeat=3):
            for shape in SHAPES:
                symbolic = shape("a", "b", "c", "d", o1, o2, o3)
                values = float_eval(symbolic, columns)
                for row in np.nonzero(np.abs(values - target) < 1e-6)[0]:
                    leaves = dict(zip("abcd", rows[row]))
                    node = _bind(symbolic, leaves)
                    if exact_value(node) == target:
                        found.setdefault(owners[row], set()).add(render(node))
    return {hand: tuple(sorted(texts, key=lambda t: (len(t), t))) for hand, texts in found.items()}


@functools.lru_cache(maxsize=8)
def solution_table(target: int) -> dict[Hand, tuple[str, ...]]:
    """The table for `target`, computed on first use (about half a second) and kept in memory."""
    return compute_solutions(target)


def solutions(values: tuple[int, ...] | list[int], target: int) -> tuple[str, ...]:
    """All distinct solutions for four card values (any order), shortest first; () when unsolvable."""
    return solution_table(target).get(tuple(sorted(values)), ())  # type: ignore[arg-type]
