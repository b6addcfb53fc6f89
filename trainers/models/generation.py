"""Batched generation for every consumer (evaluation, PPO rollouts, acceptance benchmarks).

`generate_batch(loaded, conversations, images=None, *, max_new_tokens, temperature, do_sample, top_p=1.0,
seed=None, batch_size=None) -> list[str]`

- `loaded`: a `LoadedModel` (see `trainers.models.loader`).
- `conversations`: chat messages per conversation (see `trainers.models.chat`); each is rendered with the
  chat template and its generation prompt. `images`: one list of images per conversation (or None); text
  models ignore images.
- Conversations run as batches (all at once, or `batch_size` at a time) with left padding and the KV cache.
  Image-text models put conversations with and without images in separate batches.
- Greedy decoding when `do_sample` is False or `temperature` is 0; otherwise sampling with `temperature`
  and `top_p`. With `seed`, sampling is reproducible and the global torch RNG is left untouched.
- Returns the decoded completions (special tokens removed), in the order of `conversations`. Generation
  stops at the model's end-of-turn token(s) or after `max_new_tokens`.
"""

from __future__ import annotations

import contextlib
from typing import Any, Sequence

from trainers.models.chat import count_image_blocks, prepare_batch


def stop_token_ids(loaded) -> list[int]:
    """End-of-turn ids: the generation config's eos ids plus the tokenizer's eos."""
    configured = getattr(loaded.model.generation_config, "eos_token_id", None)
    ids = list(configured) if isinstance(configured, list) else ([configured] if configured is not None else [])
    if loaded.tokenizer.eos_token_id is not None and loaded.tokenizer.eos_token_id not in ids:
        ids.append(loaded.tokenizer.eos_token_id)
    return ids


@contextlib.contextmanager
def seeded(seed: int | None, device) -> Any:
    """Seed torch for the block and restore the previous RNG state after it (no-op without a seed)."""
    import torch

    if seed is None:
        yield
        return
    devices = []
    if torch.device(device).type == "cuda":
        index = torch.device(device).index
        devices = [index if index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _groups(loaded, conversations, images, batch_size: int | None) -> list[list[int]]:
    """Indices of the batches: by presence of images (image-text models), then by `batch_size`."""
    keys = [bool(loaded.is_vision and count_image_blocks(c)) for c in conversations]
    groups = []
    for key in (False, True):
        indices = [i for i, k in enumerate(keys) if k == key]
        step = batch_size or max(1, len(indices))
        groups.extend(indices[start:start + step] for start in range(0, len(indices), step))
    return [g for g in groups if g]


def generate_batch(loaded, conversations: Sequence[Sequence[dict[str, Any]]], images: Sequence[Sequence[Any]] | None = None,
                   *, max_new_tokens: int, temperature: float, do_sample: bool, top_p: float = 1.0,
                   seed: int | None = None, batch_size: int | None = None) -> list[str]:
    import torch

    if not conversations:
        return []
    images = list(images) if images is not None else [[] for _ in conversations]
    sample = bool(do_sample and temperature > 0)
    options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "do_sample": sample, "use_cache": True,
                               "pad_token_id": loaded.pad_token_id, "eos_token_id": stop_token_ids(loaded)}
    if sample:
        options.update(temperature=temperature, top_p=top_p, top_k=0)
    else:
        options.update(temperature=None, top_p=None, top_k=None)
    outputs: list[str] = [""] * len(conversations)
    was_training = loaded.model.training
    loaded.model.eval()
    try:
        with seeded(seed, loaded.device), torch.inference_mode():
            for group in _groups(loaded, conversations, images, batch_size):
                batch = prepare_batch(loaded, [conversations[i] for i in group], [images[i] for i in group],
                                      add_generation_prompt=True, padding_side="left")
                generated = loaded.model.generate(**batch, **options)
                new_tokens = generated[:, batch["input_ids"].shape[1]:]
                texts = loaded.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
                for index, text in zip(group, texts):
                    outputs[index] = text
    finally:
        loaded.model.train(was_training)
    return outputs
