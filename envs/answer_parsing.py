"""Extract the fields of a model's JSON-like answer, for every environment.

Model output is hostile input. Models write single quotes, trailing commas, unquoted keys, prose and code
fences around the JSON, or nothing usable at all. `extract_fields` never raises and never evaluates code: it
looks at a bounded prefix of the text, tries strict JSON, then a repaired form, then per-field patterns.
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

MAX_ANSWER_CHARS = 32_768
_MAX_OBJECT_CHARS = 8_192


def extract_fields(text: Any, fields: Sequence[str]) -> dict[str, Any]:
    """Return the requested fields found in `text` (missing ones are absent); keys are matched case-insensitively."""
    if not isinstance(text, str):
        return {}
    text = text[:MAX_ANSWER_CHARS]
    wanted = {field.lower(): field for field in fields}
    for candidate in _json_objects(text):
        parsed = _loads_lenient(candidate)
        if isinstance(parsed, dict):
            found = {wanted[k.lower()]: v for k, v in parsed.items() if isinstance(k, str) and k.lower() in wanted}
            if found:
                return found
    return _regex_fields(text, fields)


def _json_objects(text: str) -> list[str]:
    """Balanced `{...}` spans, outermost first, found with one linear scan that respects quoted strings."""
    spans: list[str] = []
    depth = 0
    start = -1
    quote = ""
    escaped = False
    for index, char in enumerate(text):
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
            continue
        if char in "\"'" and depth > 0:
            quote = char
        elif char == "{":
            if depth == 0:
                start = index
            depth += 1
        elif char == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                if index - start < _MAX_OBJECT_CHARS:
                    spans.append(text[start : index + 1])
                if len(spans) >= 8:
                    break
    if depth > 0 and start >= 0 and len(text) - start < _MAX_OBJECT_CHARS:
        spans.append(text[start:] + "}" * min(depth, 4))
    return spans


_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_UNQUOTED_KEY = re.compile(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_ ]*?)(\s*:)")


def _loads_lenient(candidate: str) -> Any:
    for attempt in (candidate, _repair(candidate)):
        try:
            return json.loads(attempt)
        except (ValueError, RecursionError):
            continue
    return None


def _repair(candidate: str) -> str:
    """Single quotes to double quotes (outside double-quoted strings), no trailing commas, quoted keys."""
    out: list[str] = []
    quote = ""
    escaped = False
    for char in candidate:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
                out.append('"')
                continue
            elif char == '"' and quote == "'":
                out.append('\\"')
                continue
            out.append(char)
            continue
        if char in "\"'":
            quote = char
            out.append('"')
        else:
            out.append(char)
    repaired = "".join(out)
    repaired = _TRAILING_COMMA.sub(r"\1", repaired)
    repaired = _UNQUOTED_KEY.sub(lambda m: f'{m.group(1)}"{m.group(2).strip()}"{m.group(3)}', repaired)
    return repaired


def _regex_fields(text: str, fields: Sequence[str]) -> dict[str, Any]:
    """Last resort: `"field": "value"` or `'field': [..]` patterns anywhere in the text."""
    found: dict[str, Any] = {}
    for field in fields:
        key = re.escape(field)
        string_value = re.search(rf"[\"']?{key}[\"']?\s*:\s*[\"']([^\"'\n]{{0,2000}})[\"']", text, re.IGNORECASE)
        if string_value:
            found[field] = string_value.group(1)
            continue
        list_value = re.search(rf"[\"']?{key}[\"']?\s*:\s*(\[[^\[\]\n]{{0,2000}}\])", text, re.IGNORECASE)
        if list_value:
            parsed = _loads_lenient(list_value.group(1))
            if isinstance(parsed, list):
                found[field] = parsed
    return found
