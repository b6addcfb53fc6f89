"""The GeneralPoints verifier reproduces the published rewards, except its documented deviations.

Each corpus row is data: the answer, the hand, the rule it exercises, the reward the published verifier gives
(worked out by hand from ../shared/docs/published-rewards.md; None where the published code raises), the
reward the project gives by default, and the Verify Info when the row checks it. A row whose two rewards
differ is a deviation and must be listed in docs/deviations.md.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.general_points.cards import rank_value
from envs.general_points.config import GeneralPointsConfig
from envs.general_points.rewards import CORRECT, verify_answer

DEVIATIONS = Path(__file__).resolve().parents[1] / "docs" / "deviations.md"

H3388 = ("3", "3", "8", "8")
H2345 = ("2", "3", "4", "5")
H1234 = ("A", "2", "3", "4")
H2438 = ("2", "4", "3", "8")
HA3K6 = ("A", "3", "K", "6")
HTT3A = ("10", "10", "3", "A")
HA3T6 = ("A", "3", "10", "6")


def strict(formula, cards=None):
    """A strict-JSON answer (the published reader takes its fields as they are)."""
    body = {"number": [], "formula": formula}
    if cards is not None:
        body = {"cards": cards if isinstance(cards, str) else list(cards), **body}
    return json.dumps(body)


def layout(cards_text, formula):
    """The published SFT layout: not strict JSON (trailing commas), so read by the published patterns."""
    return '{\n  "cards": %s,\n  "number": [],\n  "formula": "%s",\n}' % (cards_text, formula)


NESTED_200 = "(" * 199 + "(5+3-2)*4" + ")" * 199  # 200 levels: Python's eval still parses it
NESTED_201 = "(" * 200 + "(5+3-2)*4" + ")" * 200  # 201 levels: "too many nested parentheses"
PROSE = "Let me think step by step about which operations to try first. " * 3000  # ~190 KB before the JSON

# (id, answer, hand, vision, rule, published reward, our reward, Verify Info or None)
CORPUS = [
    # spaces, tabs and operator lookalikes are illegal characters
    ("spaces", strict("( 2 + ( 4 - 3 ) ) * 8"), H2438, False, "4 characters", -3, -3, "illegal characters."),
    ("tab", strict("(2\t+(4-3))*8"), H2438, False, "4 characters", -3, -3, "illegal characters."),
    ("x", strict("1x2x3x4"), H1234, False, "4 characters", -3, -3, None),
    ("times-sign", strict("1×2×3×4"), H1234, False, "4 characters", -3, -3, None),
    ("division-sign", strict("8÷(3-8÷3)"), H3388, False, "4 characters", -3, -3, None),
    ("minus-sign", strict("8/(3−8/3)"), H3388, False, "4 characters", -3, -3, None),
    ("decimal-point", strict("8/(3-8/3)*1.0"), H3388, False, "4 characters", -3, -3, None),
    # the formula is cut at its first "="
    ("double-equals", strict("8/(3-8/3)==24"), H3388, False, "2 cut at =", 5, 5, "Correct solution."),
    ("equals-float", strict("(5+3-2)*4=24.0"), H2345, False, "2 cut at =", 5, 5, None),
    ("target-first", strict("24=8/(3-8/3)"), H3388, False, "2 cut at =", -4, -4,
     "you used invalid numbers: [24], you didn't use numbers: [3, 8]."),
    ("only-target", strict("=24"), H3388, False, "2 cut at =", -2, -2, "you didn't use numbers: [3, 8]."),
    # penalties add up
    ("invalid-and-unused", strict("9*3"), H3388, False, "5 numbers", -4, -4,
     "you used invalid numbers: [9], you didn't use numbers: [3, 8]."),
    ("overused", strict("3+3+8+8+8"), H3388, False, "5 numbers", -2, -2, "you used numbers: [8] too many times."),
    ("invalid-hides-overused", strict("3+9+8+8+8"), H3388, False, "5 numbers", -4, -4,
     "you used invalid numbers: [9], you didn't use numbers: [3]."),
    ("two-violations", strict("8**3**8*3"), H3388, False, "4 sequence", -6, -6,
     "invalid sequence after operator, invalid sequence after operator."),
    ("violation-and-number", strict("8**3*8*3*1"), H3388, False, "4+5", -5, -5, None),
    ("three-violations-and-number", strict("8**3**8**3*1"), H3388, False, "4+5", -11, -11, None),
    ("unopened-paren", strict("(8)(3)*8*3"), H3388, False, "4 sequence", -6, -6,
     "invalid sequence before '(', unmatched closing parenthesis."),
    ("unary-minus", strict("-8+8*3+3"), H3388, False, "4 sequence", -3, -3, "invalid sequence after operator."),
    ("empty-parens", strict("()+8/(3-8/3)"), H3388, False, "4 sequence", -3, -3, None),
    # evaluation failures and wrong values end in the prefix rule (-1)
    ("division-by-zero", strict("8/(3-3)*8"), H3388, False, "6 prefix", -1, -1,
     "8/(3- is partially correct but the full formula does not match any solution."),
    ("wrong-value", strict("8+3+8+3"), H3388, False, "6 prefix", -1, -1,
     "8 is partially correct but the full formula does not match any solution."),
    ("wrong-from-start", strict("3+3+8+8"), H3388, False, "6 prefix", -1, -1,
     "your formula does not match any solution."),
    ("unclosed-outer", strict("(8/(3-8/3)"), H3388, False, "6 prefix", -1, -1, None),
    ("trailing-operator", strict("8/(3-8/3)+"), H3388, False, "6 prefix", -1, -1,
     "8/(3-8/3) is partially correct but the full formula does not match any solution."),
    ("leading-zero", strict("08/(3-8/3)"), H3388, False, "6 eval error", -1, -1, None),
    ("fullwidth-digit", strict("８/(3-8/3)"), H3388, False, "6 eval error", -1, -1, None),
    ("depth-200", strict(NESTED_200), H2345, False, "6 value", 5, 5, None),
    ("depth-201", strict(NESTED_201), H2345, False, "6 eval error", -1, -1, None),
    ("empty", strict(""), H3388, False, "5 numbers", -2, -2, "you didn't use numbers: [3, 8]."),
    ("seven-digits", strict("1234567+3+3+8+8"), H3388, False, "5 numbers", -2, -2,
     "you used invalid numbers: [1234567]."),
    ("seven-digits-alone", strict("1234567"), H3388, False, "5 numbers", -4, -4, None),
    ("leading-zeros-count", strict("03+3+8+8"), H3388, False, "5 numbers", -1, -1, None),
    # deviations on the value
    ("float-rounding", strict("8/(3-8/3)"), H3388, False, "6 exact value", 0, 5, "Correct solution."),
    ("partial", strict("8/(3-8/3"), H3388, False, "6 partial", 1, -1,
     "8/(3-8/3 is partially correct but the formula is incomplete."),
    ("formula-number", strict(24), H3388, False, "2 not a string", None, -3, "your formula is not text."),
    ("formula-null", strict(None), H3388, False, "2 not a string", None, -3, None),
    ("formula-list", strict(["8/(3-8/3)"]), H3388, False, "2 not a string", None, -3, None),
    # reading the fields
    ("no-formula", "I give up", H3388, False, "2 reading", -3, -3, "illegal characters."),
    ("no-space", 'answer: {"formula":"8/(3-8/3)"}.', H3388, False, "2 reading", -3, -3, None),
    ("single-quoted", "{'formula': '8/(3-8/3)=24'}", H3388, False, "2 reading", -3, -3, None),
    ("strict-no-space", '{"formula":"(5+3-2)*4"}', H2345, False, "2 reading", 5, 5, None),
    ("prose-around", "Sure! " + strict("(5+3-2)*4=24") + " Good luck.", H2345, False, "2 reading", 5, 5, None),
    ("long-reasoning", PROSE + strict("(5+3-2)*4=24"), H2345, False, "2 reading", 5, 5, None),
    ("first-match", 'draft "formula": "1+1" final "formula": "(5+3-2)*4"', H2345, False, "2 reading", -4, -4,
     "you used invalid numbers: [1], you didn't use numbers: [2, 3, 4, 5]."),
    ("match-on-one-line", '"formula": "(5+3-2\n)*4" then "formula": "(5+3-2)*4"', H2345, False, "2 reading",
     5, 5, None),
    ("newline-in-json", strict("(5+3-2)*4\n"), H2345, False, "4 characters", -3, -3, None),
    # GP-VL: the cards field
    ("prompt-layout", layout("[10, 10, 3, A]", "10+10+3+1=24"), HTT3A, True, "3 cards", 5, 5, None),
    ("sft-layout", layout("['A', '3', 'K', '6']", "10*3-6*1=24"), HA3K6, True, "3 cards", 5, 5, None),
    ("suit-letter", layout("['HA', '3', 'K', '6']", "10*3-6*1=24"), HA3K6, True, "3 cards", -1.5, -1.5,
     "you recognized wrong cards"),
    ("ten-as-T", layout("['T', '10', '3', 'A']", "10+10+3+1=24"), HTT3A, True, "3 cards", -1.5, -1.5, None),
    ("lower-case", layout("['a', '3', 'K', '6']", "10*3-6*1=24"), HA3K6, True, "3 cards", -1.5, -1.5, None),
    ("ace-as-1", strict("10*3-6*1=24", [1, 3, 10, 6]), HA3T6, True, "3 cards", -1.5, -1.5, None),
    ("wrong-card", layout("['A', '3', 'Q', '6']", "10*3-6*1=24"), HA3K6, True, "3 cards", -1.5, -1.5, None),
    ("three-cards", layout("['A', '3', 'K']", "10*3-6*1=24"), HA3K6, True, "3 cards", -1.5, -1.5, None),
    ("no-cards", strict("10*3-6*1=24"), HA3K6, True, "3 cards", -1.5, -1.5, None),
    ("cards-before-formula", layout("['A', '3', 'Q', '6']", "1 + 1"), HA3K6, True, "3 cards", -1.5, -1.5, None),
    ("cards-as-json-string", strict("10*3-6*1", "['A', '3', 'K', '6']"), HA3K6, True, "3 cards", 5, 5, None),
    ("strict-json-list", strict("10*3-6*1=24", HA3K6), HA3K6, True, "3 cards fix", -1.5, 5, None),
    ("all-digit-layout", layout("[2, 3, 4, 5]", "(5+3-2)*4=24"), H2345, True, "3 cards fix", -1.5, 5, None),
    ("all-digit-json", strict("(5+3-2)*4=24", [2, 3, 4, 5]), H2345, True, "3 cards fix", -1.5, 5, None),
    ("double-quoted-layout", layout('["A", "3", "K", "6"]', "10*3-6*1=24"), HA3K6, True, "3 cards fix",
     -1.5, 5, None),
]


def score(answer, hand, vision, **options):
    numbers = [rank_value(rank, True) for rank in hand]
    return verify_answer(answer, list(hand), numbers, 24, check_cards=vision, **options)


@pytest.mark.parametrize("row", CORPUS, ids=[row[0] for row in CORPUS])
def test_default_rewards_are_the_published_ones_or_a_documented_deviation(row):
    _, answer, hand, vision, _, published, ours, message = row
    verdict = score(answer, hand, vision)
    assert verdict.reward == ours
    assert verdict.correct == (ours == CORRECT)
    if message is not None:
        assert verdict.message == message


def test_corpus_covers_every_published_rule_and_lists_its_deviations():
    rules = {row[4].split()[0] for row in CORPUS}
    assert {"2", "3", "4", "5", "6"} <= rules
    deviations = [row for row in CORPUS if row[5] != row[6]]
    assert {row[4] for row in deviations} == {"6 exact value", "6 partial", "2 not a string", "3 cards fix"}


def test_deviations_are_documented_in_one_table():
    text = DEVIATIONS.read_text(encoding="utf-8")
    assert text.count("| Published behaviour |") == 1
    for needle in ("Fraction", "crash", "partial_solution_reward", "lenient_answer_reading", "[10, 10, 3, 2]",
                   "MAX_ANSWER_CHARS", "V-IRL"):
        assert needle in text, needle


def test_partial_solution_option_restores_the_published_plus_one():
    assert score(strict("8/(3-8/3"), H3388, False, partial_solution_reward=True).reward == 1
    assert score(strict("(8/(3-8/3"), H3388, False, partial_solution_reward=True).reward == -1


def test_a_huge_answer_is_read_in_bounded_time():
    started = time.perf_counter()
    verdict = score("x" * 3_000_000 + strict("(5+3-2)*4"), H2345, False)
    assert time.perf_counter() - started < 2.0
    assert verdict.reward == 5  # the end of an over-long answer is still read


def test_a_huge_formula_is_a_penalty_not_a_hang():
    started = time.perf_counter()
    assert score(strict("1+" * 100_000 + "1"), H2345, False).reward == -3
    assert score(strict("9" * 100_000), H2345, False).reward == -3
    assert time.perf_counter() - started < 2.0


# -- the lenient reading option ------------------------------------------------------------------------
LENIENT = [
    (strict("( 2 + ( 4 - 3 ) ) * 8"), H2438, False),
    (strict("(2\t+(4-3))*8 = 24"), H2438, False),
    (strict("1x2x3x4"), H1234, False),
    (strict("1 × 2 × 3 × 4"), H1234, False),
    (strict("8÷(3−8÷3)"), H3388, False),
    ("{'formula': '8/(3-8/3)=24'}", H3388, False),
    ('answer: {"formula":"8/(3-8/3)"}.', H3388, False),
    ("{formula: '8/(3-8/3)',}", H3388, False),
    (layout("['HA', 'S3', 'DK', 'C6']", "10*3-6*1"), HA3K6, True),
    (layout("['T', '10', '3', 'A']", "10+10+3+1"), HTT3A, True),
    (layout("['a', '3', 'king', '6']", "10*3-6*1"), HA3K6, True),
]


@pytest.mark.parametrize("answer, hand, vision", LENIENT)
def test_lenient_option_reads_more_answers_that_the_published_reader_misses(answer, hand, vision):
    assert score(answer, hand, vision).reward < 0
    assert score(answer, hand, vision, lenient=True).reward == 5


@pytest.mark.parametrize("row", CORPUS, ids=[row[0] for row in CORPUS])
def test_lenient_option_keeps_every_verdict_on_an_answer_read_the_same(row):
    _, answer, hand, vision, rule, _, ours, _ = row
    if rule.startswith(("4 characters", "2 reading", "3 cards")) or ours == -1.5:
        return  # rows about the reading itself
    assert score(answer, hand, vision, lenient=True).reward == ours


_FORMULA_CHARS = st.text(alphabet="123456789+-*/()", max_size=14)


@given(_FORMULA_CHARS, st.lists(st.sampled_from([" ", "\t", "  "]), max_size=14), st.randoms())
@settings(max_examples=200, deadline=None)
def test_lenient_spacing_never_changes_the_verdict_on_the_formula(formula, spaces, rng):
    spaced = list(formula)
    for space in spaces:
        spaced.insert(rng.randint(0, len(spaced)), space)
    plain = score(strict(formula), H2345, False)
    lenient = score(strict("".join(spaced)), H2345, False, lenient=True)
    assert (lenient.reward, lenient.message) == (plain.reward, plain.message)


def test_lenient_option_is_an_env_config_key_off_by_default():
    assert GeneralPointsConfig().lenient_answer_reading is False
    assert GeneralPointsConfig(lenient_answer_reading=True).lenient_answer_reading is True


@pytest.mark.parametrize(
    "answer, hand, vision, kind",
    [
        (strict("8/(3-8/3)"), H3388, False, "CORRECT_SOLUTION"),
        (strict("8+3+8+3"), H3388, False, "NO_SOLUTION"),
        (strict("8*3"), H3388, False, "INCORRECT_NUMBER"),
        (strict("8 * 3"), H3388, False, "ILLEGAL_FORMULA"),
        (strict("9*3"), H3388, False, "AGGREGATED_ERROR"),  # -4: not one of the published reward values
        (layout("['A', '3', 'Q', '6']", "10*3-6*1"), HA3K6, True, "INCORRECT_VISION"),
    ],
)
def test_verdict_kind_is_the_published_statistics_name(answer, hand, vision, kind):
    assert score(answer, hand, vision).kind == kind


def test_verdict_reports_the_cards_it_read():
    verdict = score(layout("['A', '3', 'Q', '6']", "10*3-6*1"), HA3K6, True)
    assert verdict.cards_read == ("A", "3", "Q", "6") and verdict.recognized_cards is False
    assert score(strict("10*3-6*1"), HA3K6, False).cards_read is None
