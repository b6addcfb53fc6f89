"""Batched sampling for rollouts: conversations -> prompt token ids (+ vision inputs) -> answer token ids.

Unlike `trainers.models.generation.generate_batch`, which returns text, this keeps the exact sampled token
ids (the log-probs PPO needs are of those ids, not of a re-tokenisation of the text) and each prompt's own
encoding, so the update recomputes log-probs on precisely what was sampled. One left-padded batch, KV cache,
at the policy's temperature (the same temperature the log-prob computation divides the logits by).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch

from trainers.models.chat import collate, encode_conversation
from trainers.models.generation import stop_token_ids

_VISION_KEYS = ("pixel_values", "aspect_ratio_ids", "aspect_ratio_mask", "cross_attention_mask")


@dataclass
class EncodedPrompt:
    ids: list[int]
    extra_inputs: dict[str, torch.Tensor] | None
    """Vision inputs (batch dimension 1) when the prompt has images and the model reads them."""
    example: dict[str, Any]
    """The encoded example as `trainers.models.chat.collate` takes it."""


def encode_prompt(loaded, messages: Sequence[dict[str, Any]], images: Sequence[Any]) -> EncodedPrompt:
    example = encode_conversation(loaded, messages, images, add_generation_prompt=True)
    extra = {k: example[k] for k in _VISION_KEYS if k in example}
    if "pixel_values" in extra:
        extra["pixel_values"] = extra["pixel_values"].to(next(loaded.model.parameters()).dtype)
    return EncodedPrompt(example["input_ids"].tolist(), extra or None, example)


def cut_at_stop(ids: Sequence[int], stop_ids: Sequence[int], pad_id: int) -> list[int]:
    """Generated ids up to and including the first stop token; trailing padding removed otherwise."""
    out: list[int] = []
    for token in ids:
        out.append(int(token))
        if token in stop_ids:
            return out
    while out and out[-1] == pad_id and pad_id not in stop_ids:
        out.pop()
    return out


@torch.no_grad()
def sample_answers(loaded, model, prompts: Sequence[EncodedPrompt], *, temperature: float, top_p: float,
                   max_new_tokens: int, do_sample: bool = True, batch_size: int | None = None) -> list[list[int]]:
    """Sample one answer per prompt with `model` (the policy backbone); returns the answer token ids.

    Prompts with and without images go in separate batches (as generate_batch does); `batch_size` bounds
    the batch (None: all prompts of a kind at once).
    """
    stops = stop_token_ids(loaded)
    options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "use_cache": True, "pad_token_id": loaded.pad_token_id,
                               "eos_token_id": stops}
    if do_sample and temperature > 0:
        options.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
    else:
        options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    answers: list[list[int]] = [[] for _ in prompts]
    was_training = model.training
    model.eval()
    try:
        for group in _groups(prompts, batch_size):
            batch = collate(loaded, [prompts[i].example for i in group], padding_side="left")
            batch = {k: v.to(device, dtype=dtype) if k == "pixel_values" else v.to(device) for k, v in batch.items()}
            generated = model.generate(**batch, **options)
            new_tokens = generated[:, batch["input_ids"].shape[1]:].tolist()
            for index, ids in zip(group, new_tokens):
                answers[index] = cut_at_stop(ids, stops, loaded.pad_token_id)
    finally:
        model.train(was_training)
    return answers


def _groups(prompts: Sequence[EncodedPrompt], batch_size: int | None) -> list[list[int]]:
    groups = []
    for with_images in (False, True):
        indices = [i for i, p in enumerate(prompts) if bool(p.extra_inputs) == with_images]
        step = batch_size or max(1, len(indices))
        groups.extend(indices[start:start + step] for start in range(0, len(indices), step))
    return [g for g in groups if g]
