"""Reading answer fields: the lenient reader on what models actually write, the published reader's exact rules,
and time linear in the answer's length on hostile input."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.answer_parsing import extract_fields, published_fields

FIELDS = ("cards", "number", "formula")


@pytest.mark.parametrize(
    "text",
    [
        '{"cards": ["3", "3", "8", "8"], "number": [3, 3, 8, 8], "formula": "8/(3-8/3)=24"}',
        "{'cards': ['3', '3', '8', '8'], 'number': [3, 3, 8, 8], 'formula': '8/(3-8/3)=24',}",
        'Sure! Here is my answer:\n```json\n{"cards": ["3","3","8","8"], "number": [3,3,8,8], "formula": "8/(3-8/3)=24"}\n```\nGood luck.',
        '{cards: ["3","3","8","8"], number: [3,3,8,8], formula: "8/(3-8/3)=24"}',
        '{"Cards": ["3","3","8","8"], "Number": [3,3,8,8], "FORMULA": "8/(3-8/3)=24"}',
        'I think "cards": ["3","3","8","8"] and "formula": "8/(3-8/3)=24" works',
        '{"cards": ["3","3","8","8"], "number": [3,3,8,8], "formula": "8/(3-8/3)=24"',
    ],
)
def test_json_like_answers_yield_the_formula(text):
    fields = extract_fields(text, FIELDS)
    assert fields["formula"] == "8/(3-8/3)=24"
    assert [str(c) for c in fields["cards"]] == ["3", "3", "8", "8"]


def test_missing_fields_are_absent():
    assert extract_fields("no json here at all", FIELDS) == {}
    assert extract_fields('{"answer": 24}', FIELDS) == {}


@pytest.mark.parametrize(
    "text",
    ["{" * 200_000, "[" * 200_000, '{"formula": "' + "1" * 5_000_000, "\x00{}\x00" * 100_000, None, 7],
    ids=["braces", "brackets", "huge-string", "nul", "none", "int"],
)
def test_hostile_answers_return_quickly(text):
    started = time.perf_counter()
    result = extract_fields(text, FIELDS)
    assert time.perf_counter() - started < 1.0
    assert isinstance(result, dict)


@given(st.text(max_size=500))
@settings(max_examples=300, deadline=None)
def test_never_raises(text):
    assert isinstance(extract_fields(text, FIELDS), dict)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{'formula': 'a \"b\" c', 'cards': ['A',],}", {"formula": 'a "b" c', "cards": ["A"]}),
        ('{current observation: "x: y", action  :"stop()"}', {"current observation": "x: y", "action": "stop()"}),
        ('{"formula": "1,]"  ,  }', {"formula": "1,]"}),
        ('noise {"formula": "1+2"} more {"formula": "3+4"}', {"formula": "1+2"}),
    ],
)
def test_repaired_json_keeps_strings_intact(text, expected):
    assert extract_fields(text, tuple(expected)) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ('{"formula": "1+2", "cards": ["A", "2"]}', {"formula": "1+2", "cards": ["A", "2"]}),
        ('{"formula": 24}', {"formula": 24}),
        ('["formula", "cards"]', {}),
        ('x "formula": "1+2" "cards": [\'A\', \'2\'],', {"formula": "1+2", "cards": "'A', '2'"}),
        ('x "formula":"1+2" "cards":[1]', {}),
        ('x "formula": "a\nb" "formula": "c"', {"formula": "c"}),
        ('x "cards": [] "cards": [5]', {"cards": "5"}),
        ("x 'formula': '1+2'", {}),
    ],
)
def test_published_reader_is_strict_json_then_exact_patterns(text, expected):
    assert published_fields(text, ("formula", "cards")) == expected


def _seconds(function, text):
    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        function(text, FIELDS)
        best = min(best, time.perf_counter() - started)
    return best


HOSTILE_SHAPES = {
    # an unquoted key followed by spaces: the old key-quoting regex backtracked quadratically on it
    "unquoted-key-spaces": lambda n: ("{formula" + " " * 8_183 + "}") * (n // 8_192),
    "one-object": lambda n: "{formula" + " " * n + "}",
    "openers": lambda n: '"cards": [ "formula": "' * (n // 24),
    "key-colon": lambda n: "formula: '" * (n // 10),
    "commas": lambda n: "{formula: [" + ", " * (n // 2) + "]}",
}


@pytest.mark.parametrize("shape", HOSTILE_SHAPES, ids=list(HOSTILE_SHAPES))
@pytest.mark.parametrize("reader", [extract_fields, published_fields], ids=["lenient", "published"])
def test_reading_time_grows_linearly_with_hostile_input(shape, reader):
    small, large = (HOSTILE_SHAPES[shape](size) for size in (64 * 1024, 256 * 1024))
    small_seconds, large_seconds = _seconds(reader, small), _seconds(reader, large)
    assert large_seconds < 0.5
    assert large_seconds < 8 * small_seconds + 0.02  # 4x the input: about 4x the time (quadratic: 16x)
