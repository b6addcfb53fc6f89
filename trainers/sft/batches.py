"""Encoded SFT examples and the deterministic order in which ranks consume them.

Text is tokenized once up front (which also checks every record fits the chat template and keeps at least
one assistant token); image features are computed when a batch needs them and kept in a bounded cache.
The order of an epoch depends only on (seed, epoch), and step s of an epoch uses a fixed slice of it, so
training resumed at step s sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

from trainers.models.chat import IGNORE_INDEX, encode_conversation
from trainers.sft.data import SFTDataError, SFTExample


class EncodedSFTData:
    def __init__(self, loaded, examples: Sequence[SFTExample], max_length: int, source: str,
                 cache_bytes: int = 2 << 30):
        self.loaded = loaded
        self.examples = list(examples)
        self.max_length = max_length
        self.uses_images = loaded.is_vision and any(e.images for e in self.examples)
        self._cache: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._cache_bytes, self._cache_limit = 0, cache_bytes
        self.text: list[dict[str, Any]] = []
        self.truncated = 0
        for index, example in enumerate(self.examples):
            where = f"{source}: record {index} (id {example.id})"
            try:
                encoded = encode_conversation(loaded, example.messages, with_labels=True, skip_images=True)
            except ValueError as error:
                raise SFTDataError(f"{where}: {error}") from None
            if encoded["input_ids"].shape[0] > max_length:
                self.truncated += 1
                encoded = {k: v[:max_length] for k, v in encoded.items()}
            if not bool((encoded["labels"] != IGNORE_INDEX).any()):
                raise SFTDataError(f"{where}: no assistant token within max_length {max_length}")
            self.text.append(encoded)
        self.lengths = [e["input_ids"].shape[0] for e in self.text]

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        example = self.examples[index]
        if not (self.uses_images and example.images):
            return self.text[index]
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        from PIL import Image

        images = []
        for path in example.images:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        encoded = encode_conversation(self.loaded, example.messages, images, with_labels=True,
                                      max_length=self.max_length)
        size = sum(t.numel() * t.element_size() for t in encoded.values())
        if size <= self._cache_limit:
            self._cache[index] = encoded
            self._cache_bytes += size
            while self._cache_bytes > self._cache_limit:
                _, dropped = self._cache.popitem(last=False)
                self._cache_bytes -= sum(t.numel() * t.element_size() for t in dropped.values())
        return encoded


def epoch_order(size: int, epoch: int, seed: int, lengths: Sequence[int] | None = None,
                group_size: int | None = None) -> list[int]:
    """A permutation of range(size) fixed by (seed, epoch); with `lengths`, sorted by length within groups of
    `group_size` (similar lengths in a batch, less padding) and the groups shuffled."""
    import torch

    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(size, generator=generator).tolist()
    if lengths is None or not group_size:
        return order
    groups = [sorted(order[i:i + group_size], key=lambda j: -lengths[j]) for i in range(0, size, group_size)]
    shuffled = torch.randperm(len(groups), generator=generator).tolist()
    return [index for g in shuffled for index in groups[g]]


def micro_batch(order: Sequence[int], step_in_epoch: int, accum_index: int, *, rank: int, world: int,
                micro: int, accum: int) -> list[int]:
    """Indices of one rank's micro-batch: optimizer step s takes the s-th block of micro*world*accum."""
    start = step_in_epoch * micro * world * accum + (accum_index * world + rank) * micro
    return list(order[start:start + micro])
