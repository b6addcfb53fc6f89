"""The solution strings of the published solver, which the published verifier's prefix rules compare with.

The published environment keeps, for a hand, every text "a o b o c o d" (each ordering of the four numbers,
each operator triple) under each of its seven bracket placements whose exact value is the target, written
without spaces: `(10+3+1)+10`, `8/(3-8/3)`. The verifier's partial-solution and "does not match any solution"
rules look at which of these strings start with the answer's formula, so the messages (and the optional +1)
depend on this exact list, not on the project's solver (envs.general_points.solver), which renders each
solution once with the fewest brackets. Computed per hand on first use (numpy over all orderings, candidates
confirmed exactly) and cached.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np

from envs.general_points.formula import evaluate_tokens
from envs.general_points.solver import float_eval

_SYMBOLS = ("a", "b", "c", "d")
_INSERTIONS = ((), (0, 4), (0, 6), (2, 6), (2, 8), (4, 8), (0, 4, 6, 10))
"""The published bracket insertion points into [a, o1, b, o2, c, o3, d]: "(" then ")" alternately."""
_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def _templates() -> list[list[str]]:
    """Token templates with symbols a-d and operator slots o1-o3, brackets inserted as published."""
    templates = []
    for insertion in _INSERTIONS:
        tokens = ["a", "o1", "b", "o2", "c", "o3", "d"]
        for point, bracket in zip(insertion, "()" * 2):
            tokens.insert(point, bracket)
        templates.append(tokens)
    return templates


def _tree(tokens: list[str]):
    """Operator tree of a token list (symbols or numbers as leaves) under the usual precedence."""
    values: list = []
    operators: list[str] = []

    def reduce() -> None:
        right, left = values.pop(), values.pop()
        values.append((operators.pop(), left, right))

    for token in tokens:
        if token == "(":
            operators.append(token)
        elif token == ")":
            while operators[-1] != "(":
                reduce()
            operators.pop()
        elif token in _PRECEDENCE:
            while operators and operators[-1] != "(" and _PRECEDENCE[operators[-1]] >= _PRECEDENCE[token]:
                reduce()
            operators.append(token)
        else:
            values.append(token)
    while operators:
        reduce()
    return values[0]


@functools.lru_cache(maxsize=4096)
def _solutions_of(hand: tuple[int, ...], target: int) -> tuple[str, ...]:
    orderings = sorted(set(itertools.permutations(hand)))
    table = np.asarray(orderings, dtype=np.float64)
    columns = {symbol: table[:, i] for i, symbol in enumerate(_SYMBOLS)}
    found: list[str] = []
    with np.errstate(all="ignore"):
        for template in _templates():
            for ops in itertools.product("+-*/", repeat=3):
                slots = {"o1": ops[0], "o2": ops[1], "o3": ops[2]}
                tokens = [slots.get(t, t) for t in template]
                values = float_eval(_tree(tokens), columns)
                for row in np.nonzero(np.abs(values - target) < 1e-6)[0]:
                    numbers = dict(zip(_SYMBOLS, (str(n) for n in orderings[row])))
                    concrete = [numbers.get(t, t) for t in tokens]
                    if evaluate_tokens(concrete).value == target:
                        found.append("".join(concrete))
    return tuple(found)


def published_solutions(numbers, target: int) -> tuple[str, ...]:
    """Every solution string of the published solver for these four numbers (any order)."""
    return _solutions_of(tuple(sorted(int(n) for n in numbers)), int(target))
