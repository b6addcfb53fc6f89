"""Per-token weights of an answer's action log-prob: thought tokens x thought_prob_coef, action tokens x 1.

The paper (after RL4VLM) scores an answer as thought_prob_coef * log p(thought) + log p(action), where the
action is the final answer field ("formula" in GeneralPoints, "action" in V-IRL) and the thought is every token
before it. The field is found in the decoded text and mapped back to a token index by decoding prefixes of
the generated ids (binary search), so it works for any tokenizer and never relies on hard-coded token ids.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

_MAX_SCAN_CHARS = 20_000


def field_char_offset(text: str, fields: Sequence[str]) -> int | None:
    """Character offset where the last of `fields` starts as a JSON-like key (`"formula":`), or None."""
    text = text[:_MAX_SCAN_CHARS]
    best: int | None = None
    for name in fields:
        pattern = re.compile(r"[\"']?" + re.escape(name) + r"[\"']?\s*:")
        for match in pattern.finditer(text):
            if best is None or match.start() > best:
                best = match.start()
    return best


def first_token_at(ids: Sequence[int], decode: Callable[[Sequence[int]], str], char_offset: int) -> int:
    """The index of the first token whose decoded prefix reaches past `char_offset` characters.

    Decoded prefix length grows with the number of tokens, so a binary search needs O(log n) decodes.
    """
    low, high = 0, len(ids)
    while low < high:
        middle = (low + high) // 2
        if len(decode(ids[: middle + 1])) > char_offset:
            high = middle
        else:
            low = middle + 1
    return low


def answer_token_weights(
    ids: Sequence[int],
    decode: Callable[[Sequence[int]], str],
    fields: Sequence[str],
    thought_prob_coef: float,
) -> list[float]:
    """Weights for each generated token: thought_prob_coef before the action field, 1.0 from it on.

    An answer without the field (malformed output) is weighted 1.0 throughout: all of it is the action.
    """
    if not ids:
        return []
    if thought_prob_coef == 1.0:
        return [1.0] * len(ids)
    offset = field_char_offset(decode(ids), fields)
    if offset is None:
        return [1.0] * len(ids)
    boundary = first_token_at(ids, decode, offset)
    return [thought_prob_coef] * boundary + [1.0] * (len(ids) - boundary)
