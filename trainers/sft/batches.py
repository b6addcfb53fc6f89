"""Encoded SFT examples and the deterministic order in which ranks consume them.

Text is tokenized once up front (which also checks every record fits the chat template and keeps at least
one assistant token); image features are computed when a batch needs them and kept in a bounded cache.
The order of an epoch depends only on (seed, epoch), and step s of an epoch uses a fixed slice of it, so
training resumed at step s sees exactly the batches an uninterrupted run would. With `loss_on="final"`
only the conversation's last assistant turn carries labels.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

from envs.errors import InputError
from trainers.models.chat import IGNORE_INDEX, encode_conversation
from trainers.sft.data import SFTDataError, SFTExample


class EncodedSFTData:
    def __init__(self, loaded, examples: Sequence[SFTExample], max_length: int, source: str,
                 cache_bytes: int = 2 << 30, loss_on: str = "all"):
        if loss_on not in ("all", "final"):
            raise InputError(f"sft_config.loss_on must be all or final, got {loss_on!r}")
        self.loaded = loaded
        self.examples = list(examples)
        self.max_length = max_length
        self.loss_on = loss_on
        self.uses_images = loaded.is_vision and any(e.images for e in self.examples)
        self._cache: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._cache_bytes, self._cache_limit = 0, cache_bytes
        self.text: list[dict[str, Any]] = []
        self.truncated = 0
        for index, example in enumerate(self.examples):
            where = f"{source}: record {index} (id {example.id})"
            try:
                encoded = encode_conversation(loaded, example.messages, with_labels=True, skip_images=True)
                self._restrict_labels(encoded, example.messages, check=True)
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
        self._restrict_labels(encoded, example.messages)
        size = sum(t.numel() * t.element_size() for t in encoded.values())
        if size <= self._cache_limit:
            self._cache[index] = encoded
            self._cache_bytes += size
            while self._cache_bytes > self._cache_limit:
                _, dropped = self._cache.popitem(last=False)
                self._cache_bytes -= sum(t.numel() * t.element_size() for t in dropped.values())
        return encoded

    def _restrict_labels(self, encoded: dict[str, Any], messages: Sequence[dict[str, Any]], check: bool = False):
        """With loss_on "final", mask every assistant turn but the last (`check`: the encoding is untruncated,
        so each assistant turn must show as its own run of labelled tokens)."""
        if self.loss_on == "all":
            return
        turns = sum(1 for m in messages if m["role"] == "assistant")
        encoded["labels"], runs = final_turn_labels(encoded["labels"], turns)
        if check and runs != turns:
            raise InputError(f"{turns} assistant turns but {runs} labelled stretches: the last turn cannot be "
                             "told apart for loss_on final")


def final_turn_labels(labels, turns: int) -> tuple[Any, int]:
    """`labels` with only the `turns`-th run of labelled tokens kept (the last assistant turn: turns are
    separated by unlabelled user turns and turn headers), and the number of runs seen. Masking the run by
    its number rather than its position keeps a truncated example consistent: the cut never renumbers."""
    kept = labels.clone()
    run, previous = 0, False
    for index, labelled in enumerate((labels != IGNORE_INDEX).tolist()):
        run += labelled and not previous
        previous = labelled
        if labelled and run != turns:
            kept[index] = IGNORE_INDEX
    return kept, run


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
