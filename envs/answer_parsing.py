"""Read the fields of a model's JSON-like answer, for every environment, in time linear in its length.

Model output is hostile input. Two readers, neither of which raises or evaluates code:

- `published_fields` reads a field as the published SFTvsRL code does (`utils_general.re_match`): the whole
  answer as strict JSON, else the first `"key": "value"` (string fields) or `"key": [items]` (list fields,
  the raw text between the brackets) with exactly one space after the colon. The GeneralPoints verifier uses
  it by default, so that its rewards are the published ones.
- `extract_fields` is lenient: JSON objects anywhere in the text (with single quotes, trailing commas,
  unquoted keys, an unclosed last object), then `key: value` patterns. V-IRL and GeneralPoints'
  `lenient_answer_reading` option use it.

Every step is a literal search or a scan from one significant character to the next (no regular
expression that can backtrack), so an answer of n characters costs O(n). An answer longer than
`MAX_ANSWER_CHARS` (far more than a reasoning model writes before its JSON) is read as its first and last
halves of that size, so both an early answer and a final one are found.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator, Sequence

MAX_ANSWER_CHARS = 262_144
LIST_FIELDS = frozenset({"cards", "number", "answer", "cards_remained"})
"""Fields the published reader reads as `"key": [ ... ]` (the raw text between the brackets)."""
_MAX_PATTERN_VALUE = 2_000


def bounded(text: str) -> str:
    """`text`, or its first and last `MAX_ANSWER_CHARS // 2` characters when it is longer."""
    if len(text) <= MAX_ANSWER_CHARS:
        return text
    half = MAX_ANSWER_CHARS // 2
    return text[:half] + "\n" + text[-half:]


# -- the published reader ------------------------------------------------------------------------------
def strict_json(text: str) -> Any:
    """`json.loads(text)`, or None when the text is not strict JSON (or nests too deeply)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError, TypeError):
        return None


def published_fields(text: Any, fields: Sequence[str]) -> dict[str, Any]:
    """The fields the published reader finds (absent when it would return its "None" placeholder).

    A list field read from the text (not from strict JSON) is the raw text between its brackets, e.g.
    `'A', '3', 'K', '6'`; what it means is the caller's business."""
    if not isinstance(text, str):
        return {}
    text = bounded(text)
    parsed = strict_json(text)
    found: dict[str, Any] = {}
    for field in fields:
        if isinstance(parsed, dict) and field in parsed:
            found[field] = parsed[field]
            continue
        value = _published_pattern(text, field)
        if value is not None:
            found[field] = value
    return found


def _published_pattern(text: str, field: str) -> str | None:
    """First match of `"field": "(.*?)"` or, for list fields, `"field": \\[([^\\]]+)\\]`, found without regex."""
    is_list = field in LIST_FIELDS
    opener = f'"{field}": ' + ("[" if is_list else '"')
    closer = "]" if is_list else '"'
    start = text.find(opener)
    while start >= 0:
        begin = start + len(opener)
        end = text.find(closer, begin)
        if end < 0:
            return None  # no later occurrence can be closed either
        if is_list and end > begin:
            return text[begin:end]
        if not is_list and text.find("\n", begin, end) < 0:
            return text[begin:end]
        start = text.find(opener, begin)
    return None


# -- the lenient reader --------------------------------------------------------------------------------
def extract_fields(text: Any, fields: Sequence[str]) -> dict[str, Any]:
    """Return the requested fields found in `text` (missing ones are absent); keys are matched case-insensitively."""
    if not isinstance(text, str):
        return {}
    text = bounded(text)
    wanted = {field.lower(): field for field in fields}
    for candidate in json_objects(text):
        lowered = candidate.lower()
        if not any(key in lowered for key in wanted):
            continue
        parsed = loads_lenient(candidate)
        if isinstance(parsed, dict):
            found = {wanted[k.lower()]: v for k, v in parsed.items() if isinstance(k, str) and k.lower() in wanted}
            if found:
                return found
    return _pattern_fields(text, fields)


_IN_STRING = {"'": re.compile(r"[\\']"), '"': re.compile(r'[\\"]')}
_IN_SINGLE_QUOTED = re.compile(r"[\\'\"]")  # repair also escapes the double quotes inside
_OBJECT_START = re.compile(r"\{")
_IN_OBJECT = re.compile(r"[{}\"']")


def json_objects(text: str) -> Iterator[str]:
    """Outermost balanced `{...}` spans in order, then an unclosed last one (closed); one linear scan that
    skips quoted strings inside objects."""
    depth = 0
    start = -1
    quote = ""
    position = 0
    while True:
        if quote:
            match = _IN_STRING[quote].search(text, position)
            if match is None:
                break
            position = match.end() + (1 if match.group() == "\\" else 0)
            if match.group() == quote:
                quote = ""
            continue
        match = (_IN_OBJECT if depth else _OBJECT_START).search(text, position)
        if match is None:
            break
        char, position = match.group(), match.end()
        if char in "\"'":
            quote = char
        elif char == "{":
            if depth == 0:
                start = match.start()
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                yield text[start:position]
    if depth > 0 and start >= 0:
        yield text[start:] + ('"' if quote else "") + "}" * min(depth, 4)


def loads_lenient(candidate: str) -> Any:
    """Strict JSON, else JSON after `repair`; None when neither parses."""
    parsed = strict_json(candidate)
    if parsed is None:
        parsed = strict_json(repair(candidate))
    return parsed


_OUTSIDE_STRING = re.compile(r"[\"'}\]]|[A-Za-z_][A-Za-z0-9_ ]*")
_COLON_AHEAD = re.compile(r"\s*:")


def repair(candidate: str) -> str:
    """Single-quoted strings to double-quoted, unquoted keys quoted, trailing commas dropped: one pass that
    jumps from one significant character to the next."""
    out: list[str] = []
    quote = ""
    position = 0
    while position < len(candidate):
        if quote:
            match = (_IN_STRING[quote] if quote == '"' else _IN_SINGLE_QUOTED).search(candidate, position)
            if match is None:
                out.append(candidate[position:])
                break
            out.append(candidate[position : match.start()])
            char, position = match.group(), match.end()
            if char == "\\":
                out.append(candidate[match.start() : match.start() + 2])
                position += 1
            elif char == quote:
                out.append('"')
                quote = ""
            else:
                out.append('\\"')  # a double quote inside a single-quoted string
            continue
        match = _OUTSIDE_STRING.search(candidate, position)
        if match is None:
            out.append(candidate[position:])
            break
        out.append(candidate[position : match.start()])
        token, position = match.group(), match.end()
        if token in "\"'":
            quote = token
            out.append('"')
        elif token in "}]":
            _drop_trailing_comma(out)
            out.append(token)
        elif _last_significant(out) in ("{", ",") and _COLON_AHEAD.match(candidate, position):
            out.append('"' + token.strip() + '"')
        else:
            out.append(token)
    return "".join(out)


def _last_significant(out: list[str]) -> str:
    for chunk in reversed(out):
        stripped = chunk.rstrip()
        if stripped:
            return stripped[-1]
    return ""


def _drop_trailing_comma(out: list[str]) -> None:
    for index in range(len(out) - 1, -1, -1):
        stripped = out[index].rstrip()
        if stripped:
            if stripped[-1] == ",":
                out[index] = stripped[:-1] + out[index][len(stripped):]
            return


def _pattern_fields(text: str, fields: Sequence[str]) -> dict[str, Any]:
    """Last resort: `field: "value"` / `'field': [..]` anywhere (case-insensitive key, any spacing)."""
    found: dict[str, Any] = {}
    for field in fields:
        value = _pattern_value(text, field)
        if value is not None:
            found[field] = value
    return found


_SPACES = re.compile(r"\s*")
_VALUE_END = {'"': re.compile("[\"'\n]"), "[": re.compile(r"[\[\]\n]")}


def _pattern_value(text: str, field: str) -> Any:
    for match in re.finditer(re.escape(field), text, re.IGNORECASE):
        index = match.end()
        if text[index : index + 1] in ('"', "'"):
            index += 1
        index = _skip_spaces(text, index)
        if text[index : index + 1] != ":":
            continue
        index = _skip_spaces(text, index + 1)
        opener = text[index : index + 1]
        if opener in ('"', "'"):
            end = _VALUE_END['"'].search(text, index + 1, index + 2 + _MAX_PATTERN_VALUE)
            if end is not None and end.group() != "\n":
                return text[index + 1 : end.start()]
        elif opener == "[":
            end = _VALUE_END["["].search(text, index + 1, index + 2 + _MAX_PATTERN_VALUE)
            if end is not None and end.group() == "]":
                parsed = loads_lenient(text[index : end.end()])
                if isinstance(parsed, list):
                    return parsed
    return None


def _skip_spaces(text: str, index: int) -> int:
    return _SPACES.match(text, index).end()
