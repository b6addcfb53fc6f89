"""The solver table: known counts, exact solutions, and agreement with the formula evaluator."""

from __future__ import annotations

import itertools

from envs.general_points.formula import evaluate_formula
from envs.general_points.solver import all_hands, render, solution_table, solutions


def test_classic_hand_3388_has_its_one_famous_solution():
    assert solutions([3, 3, 8, 8], 24) == ("8/(3-8/3)",)
    assert solutions([8, 3, 8, 3], 24) == solutions([3, 3, 8, 8], 24)


def test_solvable_hand_counts_match_the_known_24_game_counts():
    table = solution_table(24)
    assert len(all_hands()) == 1820
    assert len(table) == 1362  # hands of values 1..13 that make 24
    assert sum(1 for hand in table if max(hand) <= 10) == 566  # hands of values 1..10


def test_unsolvable_hand_has_no_solution():
    assert solutions([1, 1, 1, 1], 24) == ()


def test_every_solution_evaluates_to_the_target_with_the_hands_numbers():
    for hand in itertools.islice(sorted(solution_table(24)), 0, None, 7):
        for text in solutions(hand, 24):
            verdict = evaluate_formula(text)
            assert verdict.ok and verdict.value == 24, text
            assert sorted(verdict.numbers) == list(hand), text


def test_other_targets_are_solved_too():
    assert "1+2+3+4" in solutions([1, 2, 3, 4], 10)
    assert solutions([13, 13, 13, 13], 1) != ()


def test_render_uses_only_needed_parentheses():
    assert render(("-", 8, ("-", 3, 2))) == "8-(3-2)"
    assert render(("-", ("-", 8, 3), 2)) == "8-3-2"
    assert render(("*", ("+", 1, 2), 3)) == "(1+2)*3"
    assert render(("/", 8, ("/", 4, 2))) == "8/(4/2)"
