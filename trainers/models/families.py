"""What differs between image-text model families, in one place: processor loading and image tensor batching.

The rest of the model layer is family-agnostic: every image-text model renders its image blocks with its own
chat template and turns text + images into tensors with its own processor (`trainers.models.chat`); the
processor's outputs besides `input_ids` / `attention_mask` are the model's vision inputs, whatever they are.

Families (`family_of(model_type)`):
- `mllama` (Llama-3.2-Vision): the processor keeps one `<|image|>` token per image; `pixel_values`
  (batch, images, tiles, ...), `aspect_ratio_ids`, `aspect_ratio_mask` are per example ("stack" layout: an
  example without images gets zero images no token attends to), `cross_attention_mask` is per token.
- `qwen2_vl`, `qwen2_5_vl`, `qwen3_vl`: the processor expands `<|image_pad|>` to one token per merged patch
  group; `pixel_values` (patches, features) and `image_grid_thw` (images, 3) concatenate over the batch
  ("concat" layout), `mm_token_type_ids` is per token.
- `gemma3`: the processor expands `<start_of_image>` to the image sequence (blank lines, start, image
  tokens, end); `pixel_values` (images, 3, H, W) concatenate, `token_type_ids` is per token.
- Any other image-text model: the "concat" layout; untested.

`load_processor(source, model_type)`: the model's `AutoProcessor`; for a processor that also takes a video
processor (Qwen-VL) when torchvision is not installed (transformers' video processors need it), the same
processor class without video support, which handles images exactly as the full one.
"""

from __future__ import annotations

import importlib.util
import inspect
from dataclasses import dataclass
from typing import Any

# Model inputs with a sequence dimension (dim 1 of the batched tensor): padded and truncated with input_ids.
PER_TOKEN_KEYS = ("cross_attention_mask", "mm_token_type_ids", "token_type_ids")
TEXT_KEYS = ("input_ids", "attention_mask", "labels")


@dataclass(frozen=True)
class Family:
    name: str
    layout: str
    """"stack": one image-tensor row per example (Mllama); "concat": image tensors joined along dim 0."""
    tested: bool = False


FAMILIES = {
    "mllama": Family("mllama", "stack", tested=True),
    "qwen2_vl": Family("qwen2_vl", "concat"),
    "qwen2_5_vl": Family("qwen2_5_vl", "concat", tested=True),
    "qwen3_vl": Family("qwen3_vl", "concat", tested=True),
    "gemma3": Family("gemma3", "concat", tested=True),
}


def family_of(model_type: str) -> Family:
    return FAMILIES.get(model_type) or Family(model_type, "concat")


def text_hidden_size(model_config: Any) -> int | None:
    """The language model's hidden size: the config's own, else its `text_config`'s (image-text models);
    None when neither gives one."""
    for config in (model_config, getattr(model_config, "text_config", None)):
        size = getattr(config, "hidden_size", None) if config is not None else None
        if isinstance(size, int):
            return size
    return None


def image_tokens_per_image(model_config: Any) -> int:
    """Visual tokens one image adds to a sequence's token count on the compute axis (6 N D): for Mllama, whose
    images reach the text through cross-attention and never appear in `input_ids`, one tile's patches plus the
    class token (1601 for Llama-3.2-Vision, 560 px / 14 px patches: the published code's "1601 visual tokens"),
    whatever the tile count; 0 for the families whose processor writes an image's tokens into `input_ids`
    (Qwen-VL, Gemma 3: counted with the text) and for text models."""
    vision = getattr(model_config, "vision_config", None)
    if vision is None or family_of(getattr(model_config, "model_type", "")).layout != "stack":
        return 0
    size, patch = getattr(vision, "image_size", 0), getattr(vision, "patch_size", 0)
    if not size or not patch:
        return 0
    side = size if isinstance(size, int) else size[0]
    return (side // patch) ** 2 + 1


def vision_inputs(example: dict[str, Any]) -> dict[str, Any]:
    """The vision inputs of an encoded example: everything its processor produced besides the text tensors."""
    return {key: value for key, value in example.items() if key not in TEXT_KEYS}


def image_only_processor(base: type) -> type:
    """`base` (a processor taking image, tokenizer and video processors) without its video processor."""

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        base.__init__(self, image_processor, tokenizer, None, chat_template=chat_template, **kwargs)

    # The class name is the one saved in processor_config.json: keep the real one so checkpoints load anywhere.
    return type(base.__name__, (base,), {"__init__": __init__, "__qualname__": base.__qualname__,
                                         "__module__": base.__module__})


def load_processor(source: str, model_type: str):
    import transformers
    from transformers import AutoProcessor
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    name = PROCESSOR_MAPPING_NAMES.get(model_type)
    base = getattr(transformers, name, None) if isinstance(name, str) else None
    takes_video = base is not None and "video_processor" in inspect.signature(base.__init__).parameters
    if takes_video and importlib.util.find_spec("torchvision") is None:
        return image_only_processor(base).from_pretrained(source)
    return AutoProcessor.from_pretrained(source)


def collate_vision(family: Family, examples: list[dict[str, Any]], length: int, left: bool) -> dict[str, Any]:
    """The batched vision inputs of `examples` (padded to `length` tokens), or {} when none has images."""
    with_images = [e for e in examples if "pixel_values" in e]
    if not with_images:
        return {}
    if family.layout == "stack":
        return _collate_stacked(examples, with_images[0], length, left)
    return _collate_concat(examples, with_images[0], length, left)


def pad_seq(tensor, length: int, value, left: bool, dim: int = 0):
    import torch.nn.functional as F

    missing = length - tensor.shape[dim]
    if missing == 0:
        return tensor
    pad = [0, 0] * (tensor.dim() - 1 - dim) + ([missing, 0] if left else [0, missing])
    return F.pad(tensor, pad, value=value)


def _collate_concat(examples, reference, length: int, left: bool) -> dict[str, Any]:
    """Image tensors joined along dim 0; per-token tensors (1, L, ...) padded with 0 to `length` and stacked."""
    import torch

    batch: dict[str, Any] = {}
    for key in reference:
        if key in TEXT_KEYS:
            continue
        if key in PER_TOKEN_KEYS:
            rows = [e[key][0] if key in e else torch.zeros(e["input_ids"].shape[0], dtype=reference[key].dtype)
                    for e in examples]
            batch[key] = torch.stack([pad_seq(row, length, 0, left) for row in rows])
        else:
            batch[key] = torch.cat([e[key] for e in examples if key in e])
    return batch


def _collate_stacked(examples, reference, length: int, left: bool) -> dict[str, Any]:
    """Stack Mllama image tensors; examples without images get zero images that no token attends to."""
    import torch

    keys = ("pixel_values", "aspect_ratio_ids", "aspect_ratio_mask")
    max_images = max(e["pixel_values"].shape[1] for e in examples if "pixel_values" in e)
    stacked: dict[str, list] = {key: [] for key in (*keys, "cross_attention_mask")}
    for e in examples:
        for key in keys:
            value = e.get(key)
            if value is None:
                shape = (1, max_images, *reference[key].shape[2:])
                value = torch.zeros(shape, dtype=reference[key].dtype)
                if key == "aspect_ratio_ids":
                    value = torch.ones(shape, dtype=reference[key].dtype)
                if key == "aspect_ratio_mask":
                    value[..., 0] = 1
            stacked[key].append(pad_seq(value[0], max_images, 0, left=False))
        mask = e.get("cross_attention_mask")
        if mask is None:
            tiles = reference["cross_attention_mask"].shape[-1]
            mask = torch.zeros((1, e["input_ids"].shape[0], max_images, tiles), dtype=torch.long)
        mask = pad_seq(mask[0], max_images, 0, left=False, dim=1)
        stacked["cross_attention_mask"].append(pad_seq(mask, length, 0, left))
    return {key: torch.stack(values) for key, values in stacked.items()}
