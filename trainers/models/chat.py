"""Conversations to model inputs through the model's own chat template, for text and image-text models.

A conversation is a list of `{"role": "system"|"user"|"assistant", "content": ...}` messages whose content is
a string or a list of blocks `{"type": "image"}` / `{"type": "text", "text": ...}`; its images (PIL images or
HxWx3 uint8 numpy arrays) are given separately, one per image block, in order.

- Text models see text only: image blocks are dropped, text blocks are joined, the images are ignored.
- Image-text models get the image blocks rendered by their own template (Mllama `<|image|>`, Qwen-VL
  `<|vision_start|><|image_pad|><|vision_end|>`) and the images through their own processor; whatever it
  returns besides the token ids is kept as the model's vision inputs (Mllama: `pixel_values`,
  `aspect_ratio_ids`, `aspect_ratio_mask`, `cross_attention_mask`; Qwen-VL: `pixel_values`, `image_grid_thw`,
  `mm_token_type_ids`). The token ids are the processor's (Qwen-VL expands each image placeholder to one
  token per patch group); labels follow them. How each family's tensors batch: `trainers.models.families`.

Functions:
- `render_chat(loaded, messages, add_generation_prompt)`: the template text.
- `encode_conversation(loaded, messages, images, add_generation_prompt=False, with_labels=False,
  max_length=None, skip_images=False)`: one example as 1-row tensors (`input_ids`, `attention_mask`, and with `with_labels`
  `labels`: the token ids of the assistant turns, each turn's end-of-turn token included, -100 elsewhere).
  A `max_length` that would cut into the image tokens is an `InputError`.
- `vision_inputs(example)`: an encoded example's vision inputs (what the model takes besides the text).
- `collate(loaded, examples, padding_side)`: pad examples into one batch (left for generation, right for
  training); image tensors are padded to the largest image count.
- `prepare_batch(loaded, conversations, images, add_generation_prompt, padding_side)`: both, on `loaded.device`.
"""

from __future__ import annotations

from typing import Any, Sequence

from envs.errors import InputError, ModelLoadError
from trainers.models.families import PER_TOKEN_KEYS, collate_vision, pad_seq, vision_inputs

IGNORE_INDEX = -100
__all__ = ["IGNORE_INDEX", "collate", "encode_conversation", "prepare_batch", "render_chat", "vision_inputs"]


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
    """Character spans of the assistant turns in `full_text` (the rendered conversation), each up to and
    including its end-of-turn token."""
    spans = []
    for index, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prefix = render_chat(loaded, messages[:index], add_generation_prompt=True)
        upto = render_chat(loaded, messages[: index + 1], add_generation_prompt=False)
        if not (full_text.startswith(prefix) and full_text.startswith(upto) and len(upto) > len(prefix)):
            raise ModelLoadError("the model's chat template does not render conversations prefix by prefix; "
                                 "assistant tokens cannot be located for the loss")
        # Whitespace the template writes after the end-of-turn token (Qwen's "<|im_end|>\n") is never generated.
        spans.append((len(prefix), len(upto.rstrip())))
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
    labels = None
    if with_labels:
        spans = assistant_char_spans(loaded, messages, text)
        labels = [tid if any(s <= start < e for s, e in spans) else IGNORE_INDEX
                  for tid, (start, _) in zip(input_ids, tokens["offset_mapping"])]
    example: dict[str, Any] = {}
    wanted_images = count_image_blocks(messages) if loaded.is_vision and not skip_images else 0
    images = list(images or [])
    if wanted_images != len(images) and loaded.is_vision and not skip_images:
        raise ValueError(f"the conversation has {wanted_images} image block(s) but {len(images)} image(s) were given")
    keep = len(input_ids)
    if wanted_images:
        features = loaded.processor(text=[text], images=[_pil_images(images)], add_special_tokens=False,
                                    return_tensors="pt")
        expanded = features["input_ids"][0].tolist()
        labels, image_end = _align_labels(input_ids, expanded, labels)
        input_ids = expanded
        keep = image_end
        example.update({k: v for k, v in features.items() if k not in ("input_ids", "attention_mask")})
    if labels is not None:
        example["labels"] = torch.tensor(labels)
    example["input_ids"] = torch.tensor(input_ids)
    if max_length is not None and len(input_ids) > max_length:
        if max_length < keep:
            raise InputError(f"max_length {max_length} cuts into the image tokens (they end at token {keep}); "
                             "raise max_length")
        _truncate(example, max_length)
    return example


def _align_labels(text_ids: list[int], expanded: list[int], labels: list[int] | None) -> tuple[list[int] | None, int]:
    """Labels for the processor's token ids, which may expand each image placeholder into many tokens
    (Qwen-VL, Gemma 3), and where the image tokens end. The sequences agree outside one middle stretch
    holding the images; it must carry no label (images sit in user turns)."""
    prefix = 0
    while prefix < min(len(text_ids), len(expanded)) and text_ids[prefix] == expanded[prefix]:
        prefix += 1
    suffix = 0
    while (suffix < min(len(text_ids), len(expanded)) - prefix
           and text_ids[-1 - suffix] == expanded[-1 - suffix]):
        suffix += 1
    if prefix == len(text_ids) == len(expanded):
        return labels, 0
    middle = slice(prefix, len(text_ids) - suffix)
    if labels is not None and any(label != IGNORE_INDEX for label in labels[middle]):
        raise ModelLoadError("the model's processor tokenizes the assistant text differently from its tokenizer; "
                             "save the processor and tokenizer of the same model together in its folder")
    if labels is not None:
        labels = labels[:prefix] + [IGNORE_INDEX] * (len(expanded) - prefix - suffix) + labels[len(labels) - suffix:]
    return labels, len(expanded) - suffix


def _truncate(example: dict[str, Any], max_length: int) -> None:
    for key in ("input_ids", "labels"):
        if key in example:
            example[key] = example[key][:max_length]
    for key in PER_TOKEN_KEYS:
        if key in example:
            example[key] = example[key][:, :max_length]


def collate(loaded, examples: Sequence[dict[str, Any]], padding_side: str = "right") -> dict[str, Any]:
    """Pad and stack encoded examples into one batch."""
    import torch

    left = padding_side == "left"
    length = max(e["input_ids"].shape[0] for e in examples)
    batch: dict[str, Any] = {
        "input_ids": torch.stack([pad_seq(e["input_ids"], length, loaded.pad_token_id, left) for e in examples]),
        "attention_mask": torch.stack(
            [pad_seq(torch.ones_like(e["input_ids"]), length, 0, left) for e in examples]),
    }
    if any("labels" in e for e in examples):
        batch["labels"] = torch.stack([pad_seq(e["labels"], length, IGNORE_INDEX, left) for e in examples])
    batch.update(collate_vision(loaded.family, list(examples), length, left))
    return batch


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
