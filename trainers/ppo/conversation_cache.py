"""Reuse of the KV cache across the turns of multi-turn episodes within one rollout (prefix caching).

Round r+1's prompt of an episode that goes on is round r's prompt, its sampled answer and the verifier's
message. When the chat template renders it so (checked token by token for every row), only the tail has to
go through the model: the cache of round r's generate call already holds the prompt and the answer. Before
each round the cache is compacted: every row keeps only the positions of its live conversation (not its old
episode after a reset, nor the padding generated after its stop token), right-aligned as left padding, and the
new tails follow, left-padded inside their block (masked out of the attention). generate counts positions over
the unmasked tokens only, so a row sees exactly the sequence a fresh encoding of its conversation gives, and
the log-probs agree with a fresh forward up to floating-point rounding (tested).

One cache serves one batch of text prompts under one policy version: the rollout resets it at the start of
every update, and whenever the batch changes shape or carries images (then every round is a fresh prefill).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

@dataclass
class _State:
    cache: Any
    cache_argument: str
    """The name generate() takes the cache under."""
    ids: torch.Tensor
    """(B, W): every token the cache holds, live or masked."""
    mask: torch.Tensor
    """(B, W): 1 where the token is part of the row's current conversation."""
    prompt_ids: list[list[int]]
    answers: list[list[int]]
    generated_from: int
    """Column of the first generated token."""


class ConversationCache:
    def __init__(self) -> None:
        self._state: _State | None = None
        self.continued_rows = 0
        """Rows that the last `inputs` call continued from the cache (the rest were prefilled afresh)."""

    def reset(self) -> None:
        self._state = None

    def inputs(self, prompt_ids: Sequence[list[int]], pad_id: int, device) -> dict[str, Any] | None:
        """generate() inputs that continue the cached rows with these prompts, or None (no usable cache).
        The cache is compacted in place and consumed: the next call needs a `remember` first."""
        state, self._state = self._state, None
        self.continued_rows = 0
        if state is None or len(prompt_ids) != len(state.prompt_ids):
            return None
        mask = state.mask.clone()
        width = state.ids.shape[1]
        tails = []
        for row, (new, old, answer) in enumerate(zip(prompt_ids, state.prompt_ids, state.answers)):
            # The answer's last token is the one generate never fed back, so it starts the new tail.
            kept = len(old) + len(answer) - 1
            if answer and list(new[: len(old) + len(answer)]) == old + answer and len(new) > kept:
                mask[row, state.generated_from + len(answer) - 1:] = 0
                tails.append(list(new[kept:]))
            else:  # a new episode, or a rendering that is not an extension: the row starts afresh
                mask[row] = 0
                tails.append(list(new))
        compact = _compact(state.cache, mask[:, : width - 1], state.ids[:, : width - 1])
        if compact is None:
            return None
        kept_ids, kept_mask = compact
        self.continued_rows = sum(1 for new, tail in zip(prompt_ids, tails) if len(tail) < len(new))
        tail_width = max(len(t) for t in tails)
        tail_ids = torch.full((len(tails), tail_width), pad_id, dtype=torch.long)
        tail_mask = torch.zeros((len(tails), tail_width), dtype=torch.long)
        for row, tail in enumerate(tails):
            tail_ids[row, tail_width - len(tail):] = torch.tensor(tail, dtype=torch.long)
            tail_mask[row, tail_width - len(tail):] = 1
        return {"input_ids": torch.cat([kept_ids, tail_ids], 1).to(device),
                "attention_mask": torch.cat([kept_mask, tail_mask], 1).to(device), state.cache_argument: state.cache}

    def remember(self, generated, attention_mask: torch.Tensor, prompt_ids: Sequence[list[int]],
                 answers: Sequence[list[int]]) -> None:
        """Keep the cache of a finished generate call (return_dict_in_generate) for the next round."""
        # transformers 5 names it `cache`, earlier versions `past_key_values` (in the output and in generate()).
        name = next((key for key in ("cache", "past_key_values") if generated.get(key) is not None), None)
        if name is None:
            self._state = None
            return
        cache = generated[name]
        sequences = generated.sequences
        prompt_width = attention_mask.shape[1]
        generated_part = torch.ones((sequences.shape[0], sequences.shape[1] - prompt_width), dtype=torch.long)
        self._state = _State(cache, name, sequences.cpu(), torch.cat([attention_mask.cpu(), generated_part], 1),
                             [list(p) for p in prompt_ids], [list(a) for a in answers], prompt_width)


def _compact(cache, mask: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Keep each row's live positions (mask 1), right-aligned, in every layer of `cache` (in place); returns
    the kept ids and mask, or None when nothing is live or the cache is not a plain per-layer key/value cache
    (sliding windows and the like are not compacted: those batches are prefilled afresh)."""
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", None)
    if not layers or any(type(layer) is not DynamicLayer or layer.keys is None for layer in layers):
        return None
    if layers[0].keys.shape[-2] != mask.shape[1]:
        return None
    counts = mask.sum(1)
    width = int(counts.max())
    if width == 0:
        return None
    index = torch.zeros((mask.shape[0], width), dtype=torch.long)
    kept_mask = torch.zeros((mask.shape[0], width), dtype=torch.long)
    for row in range(mask.shape[0]):
        live = mask[row].nonzero().flatten()
        if len(live):
            index[row, width - len(live):] = live
            kept_mask[row, width - len(live):] = 1
    kept_ids = ids.gather(1, index)
    for layer in layers:
        gather = index.to(layer.keys.device)[:, None, :, None].expand(-1, layer.keys.shape[1], -1, layer.keys.shape[-1])
        layer.keys = layer.keys.gather(2, gather)
        layer.values = layer.values.gather(2, gather.expand(-1, layer.values.shape[1], -1, layer.values.shape[-1]))
    return kept_ids, kept_mask
