"""Lenient extraction of answer fields from what models actually write."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.answer_parsing import extract_fields

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
