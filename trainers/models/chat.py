"""Conversations to model inputs through the model's own chat template, for text and image-text models.

A conversation is a list of `{"role": "system"|"user"|"assistant", "content": ...}` messages whose content is
a string or a list of blocks `{"type": "image"}` / `{"type": "text", "text": ...}`; its images (PIL images or
HxWx3 uint8 numpy arrays) are given separately, one per image block, in order.

- Text models see text only: image blocks are dropped, text blocks are joined, the images are ignored.
- Image-text models (Mllama) get the image blocks rendered by their template (`<|image|>`) and the images
  through their processor (`pixel_values`, `aspect_ratio_ids`, `aspect_ratio_mask`, `cross_attention_mask`).

Functions:
- `render_chat(loaded, messages, add_generation_prompt)`: the template text.
- `encode_conversation(loaded, messages, images, add_generation_prompt=False, with_labels=False,
  max_length=None, skip_images=False)`: one example as 1-row tensors (`input_ids`, `attention_mask`, and with `with_labels`
  `labels`: the token ids of the assistant turns, each turn's end-of-turn token included, -100 elsewhere).
- `collate(loaded, examples, padding_side)`: pad examples into one batch (left for generation, right for
  training); image tensors are padded to the largest image count.
- `prepare_batch(loaded, conversations, images, add_generation_prompt, padding_side)`: both, on `loaded.device`.
"""

from __future__ import annotations

from typing import Any, Sequence

IGNORE_INDEX = -100
_VISION_KEYS = ("pixel_values", "aspect_ratio_ids", "aspect_ratio_mask")


def text_only(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages with list contents flattened to their text (image blocks dropped)."""
    flat = []
    for message in messages:
        content = message["content"]
        if not isinstance(content, str):
            content = "".join(block.get("text", "") for block in content if block.get("type") == "text")
        flat.append({"role": message["role"], "content": content})
    return flat


def count_image_blocks(messages: Sequence[dict[str, Any]]) -> int:
    return sum(
        1 for m in messages if not isinstance(m["content"], str) for b in m["content"] if b.get("type") == "image"
    )


def render_chat(loaded, messages: Sequence[dict[str, Any]], add_generation_prompt: bool) -> str:
    if loaded.is_vision:
        templater = loaded.processor if getattr(loaded.processor, "chat_template", None) else loaded.tokenizer
        return templater.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=add_generation_prompt)
    return loaded.tokenizer.apply_chat_template(text_only(messages), tokenize=False,
                                                add_generation_prompt=add_generation_prompt)


def assistant_char_spans(loaded, messages: Sequence[dict[str, Any]], full_text: str) -> list[tuple[int, int]]:
    """Character spans of the assistant turns in `full_text` (the rendered conversation)."""
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prefix = render_chat(loaded, messages[:index], add_generation_prompt=True)
        upto = render_chat(loaded, messages[: index + 1], add_generation_prompt=False)
        if not (full_text.startswith(prefix) and full_text.startswith(upto) and len(upto) > len(prefix)):
            raise ValueError("the model's chat template does not render conversations prefix by prefix; "
                             "assistant tokens cannot be located for the loss")
        spans.append((len(prefix), len(upto)))
    return spans


def _pil_images(images: Sequence[Any]) -> list[Any]:
    import numpy as np
    from PIL import Image

    return [Image.fromarray(np.asarray(image)).convert("RGB") if not isinstance(image, Image.Image)
            else image.convert("RGB") for image in images]


def encode_conversation(loaded, messages: Sequence[dict[str, Any]], images: Sequence[Any] | None = None, *,
                        add_generation_prompt: bool = False, with_labels: bool = False,
                        max_length: int | None = None, skip_images: bool = False) -> dict[str, Any]:
    """One conversation as 1-row tensors; `skip_images` encodes the text alone (no image features)."""
    import torch

    text = render_chat(loaded, messages, add_generation_prompt)
    tokens = loaded.tokenizer(text, add_special_tokens=False, return_offsets_mapping=with_labels)
    input_ids = list(tokens["input_ids"])
    example: dict[str, Any] = {}
    wanted_images = count_image_blocks(messages) if loaded.is_vision and not skip_images else 0
    images = list(images or [])
    if wanted_images != len(images) and loaded.is_vision and not skip_images:
        raise ValueError(f"the conversation has {wanted_images} image block(s) but {len(images)} image(s) were given")
    if wanted_images:
        features = loaded.processor(text=[text], images=[_pil_images(images)], add_special_tokens=False,
                                    return_tensors="pt")
        if features["input_ids"][0].tolist() != input_ids:
            raise ValueError("the processor and the tokenizer tokenize the chat text differently")
        for key in (*_VISION_KEYS, "cross_attention_mask"):
            if key in features:
                example[key] = features[key]
    if with_labels:
        spans = assistant_char_spans(loaded, messages, text)
        labels = [tid if any(s <= start < e for s, e in spans) else IGNORE_INDEX
                  for tid, (start, _) in zip(input_ids, tokens["offset_mapping"])]
        example["labels"] = torch.tensor(labels)
    example["input_ids"] = torch.tensor(input_ids)
    if max_length is not None and len(input_ids) > max_length:
        example["input_ids"] = example["input_ids"][:max_length]
        if "labels" in example:
            example["labels"] = example["labels"][:max_length]
        if "cross_attention_mask" in example:
            example["cross_attention_mask"] = example["cross_attention_mask"][:, :max_length]
    return example


def _pad_seq(tensor, length: int, value, left: bool, dim: int = 0):
    import torch.nn.functional as F

    missing = length - tensor.shape[dim]
    if missing == 0:
        return tensor
    pad = [0, 0] * (tensor.dim() - 1 - dim) + ([missing, 0] if left else [0, missing])
    return F.pad(tensor, pad, value=value)


def collate(loaded, examples: Sequence[dict[str, Any]], padding_side: str = "right") -> dict[str, Any]:
    """Pad and stack encoded examples into one batch."""
    import torch

    left = padding_side == "left"
    length = max(e["input_ids"].shape[0] for e in examples)
    batch: dict[str, Any] = {
        "input_ids": torch.stack([_pad_seq(e["input_ids"], length, loaded.pad_token_id, left) for e in examples]),
        "attention_mask": torch.stack(
            [_pad_seq(torch.ones_like(e["input_ids"]), length, 0, left) for e in examples]),
    }
    if any("labels" in e for e in examples):
        batch["labels"] = torch.stack([_pad_seq(e["labels"], length, IGNORE_INDEX, left) for e in examples])
    with_images = [e for e in examples if "pixel_values" in e]
    if with_images:
        batch.update(_collate_images(examples, with_images[0], length, left))
    return batch


def _collate_images(examples, reference, length: int, left: bool) -> dict[str, Any]:
    """Stack Mllama image tensors; examples without images get zero images that no token attends to."""
    import torch

    max_images = max(e["pixel_values"].shape[1] for e in examples if "pixel_values" in e)
    stacked: dict[str, list] = {key: [] for key in (*_VISION_KEYS, "cross_attention_mask")}
    for e in examples:
        for key in _VISION_KEYS:
            value = e.get(key)
            if value is None:
                shape = (1, max_images, *reference[key].shape[2:])
                value = torch.zeros(shape, dtype=reference[key].dtype)
                if key == "aspect_ratio_ids":
                    value = torch.ones(shape, dtype=reference[key].dtype)
                if key == "aspect_ratio_mask":
                    value[..., 0] = 1
            stacked[key].append(_pad_seq(value[0], max_images, 0, left=False))
        mask = e.get("cross_attention_mask")
        if mask is None:
            tiles = reference["cross_attention_mask"].shape[-1]
            mask = torch.zeros((1, e["input_ids"].shape[0], max_images, tiles), dtype=torch.long)
        mask = _pad_seq(mask[0], max_images, 0, left=False, dim=1)
        stacked["cross_attention_mask"].append(_pad_seq(mask, length, 0, left))
    return {key: torch.stack(values) for key, values in stacked.items()}


def prepare_batch(loaded, conversations: Sequence[Sequence[dict[str, Any]]], images: Sequence[Sequence[Any]] | None,
                  *, add_generation_prompt: bool, padding_side: str, with_labels: bool = False) -> dict[str, Any]:
    """Encode, pad and move a batch of conversations to `loaded.device`."""
    images = images if images is not None else [[] for _ in conversations]
    if len(images) != len(conversations):
        raise ValueError(f"{len(conversations)} conversations but {len(images)} image lists")
    examples = [encode_conversation(loaded, c, i, add_generation_prompt=add_generation_prompt, with_labels=with_labels)
                for c, i in zip(conversations, images)]
    batch = collate(loaded, examples, padding_side)
    dtype = next(loaded.model.parameters()).dtype
    return {k: (v.to(loaded.device, dtype=dtype) if k == "pixel_values" else v.to(loaded.device)) for k, v in batch.items()}
