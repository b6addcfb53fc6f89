"""Tiny random Qwen2.5-VL / Qwen3-VL models saved to a folder, built locally (no hub download).

The tokenizer is the project's own task tokenizer (`trainers.models.tokenizer.build_task_tokenizer`) with the
Qwen special tokens added and a Qwen-style chat template (`<|im_start|>role ... <|im_end|>`, an image block
rendered `<|vision_start|><|image_pad|><|vision_end|>`); the image processor is `Qwen2VLImageProcessor` with
its defaults (PIL backend) except a small pixel budget (at most 112 x 112 px: 64 patches, 16 image tokens per image).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path

QWEN_TOKENS = ["<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>"]

QWEN_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for block in message['content'] %}"
    "{% if block['type'] == 'image' %}{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif block['type'] == 'text' %}{{ block['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

MAX_PIXELS = 112 * 112


@functools.lru_cache(maxsize=1)
def _task_tokenizer():
    from trainers.models.tokenizer import build_task_tokenizer

    return build_task_tokenizer()


def qwen_tokenizer():
    tokenizer = copy.deepcopy(_task_tokenizer())
    tokenizer.add_special_tokens({"additional_special_tokens": QWEN_TOKENS}, replace_extra_special_tokens=False)
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.chat_template = QWEN_CHAT_TEMPLATE
    return tokenizer


def _qwen_processor(tokenizer, processor_class, patch_size: int = 14, max_pixels: int = MAX_PIXELS):
    """`processor_class` for images only (its video processor needs torchvision, which the tests go without)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from trainers.models.families import image_only_processor

    image_processor = Qwen2VLImageProcessorPil(min_pixels=(2 * patch_size) ** 2, max_pixels=max_pixels,
                                               patch_size=patch_size)
    return image_only_processor(processor_class)(image_processor=image_processor, tokenizer=tokenizer,
                                        chat_template=QWEN_CHAT_TEMPLATE)


def _token_ids(tokenizer) -> dict:
    ids = tokenizer.convert_tokens_to_ids
    return dict(image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
                vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"))


def _text_config(tokenizer, **extra) -> dict:
    return dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id, **extra)


def _save(model, processor, tokenizer, out: Path) -> Path:
    from transformers import GenerationConfig

    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def build_tiny_qwen2_5_vl(out: Path, seed: int = 0) -> Path:
    """A 2-layer Qwen2.5-VL (hidden 64) with a 2-block vision tower (hidden 32), saved in HF layout at `out`."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor

    tokenizer = qwen_tokenizer()
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[1])
    text = _text_config(tokenizer, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                    "mrope_section": [2, 3, 3]})
    config = Qwen2_5_VLConfig(text_config=text, vision_config=vision, **_token_ids(tokenizer))
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    return _save(model, _qwen_processor(tokenizer, Qwen2_5_VLProcessor), tokenizer, out)


def build_tiny_qwen3_vl(out: Path, seed: int = 0) -> Path:
    """A 2-layer Qwen3-VL (hidden 64) with a 2-block vision tower (hidden 32, 16 px patches), saved at `out`."""
    import torch
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor

    tokenizer = qwen_tokenizer()
    vision = dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, patch_size=16,
                  spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64,
                  deepstack_visual_indexes=[1])
    text = _text_config(tokenizer, head_dim=16, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                                                 "mrope_section": [2, 3, 3], "mrope_interleaved": True})
    config = Qwen3VLConfig(text_config=text, vision_config=vision, **_token_ids(tokenizer))
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration(config)
    processor = _qwen_processor(tokenizer, Qwen3VLProcessor, patch_size=16, max_pixels=128 * 128)
    return _save(model, processor, tokenizer, out)


GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<start_of_turn>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for block in message['content'] %}"
    "{% if block['type'] == 'image' %}{{ '<start_of_image>' }}"
    "{% elif block['type'] == 'text' %}{{ block['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<end_of_turn>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>assistant\n' }}{% endif %}"
)


def build_tiny_gemma3(out: Path, seed: int = 0) -> Path:
    """A 2-layer Gemma 3 (hidden 64) with a 1-layer SigLIP tower (56 px, 14 px patches, 4 image tokens)."""
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3Processor
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    tokenizer = copy.deepcopy(_task_tokenizer())
    tokenizer.add_special_tokens({"additional_special_tokens": ["<start_of_image>", "<image_soft_token>",
                                                                "<end_of_image>", "<start_of_turn>", "<end_of_turn>"]},
                                 replace_extra_special_tokens=False)
    # Gemma3Processor reads these names off the tokenizer, as Gemma's own tokenizer provides them.
    tokenizer._set_model_specific_special_tokens({"boi_token": "<start_of_image>", "image_token": "<image_soft_token>",
                                                  "eoi_token": "<end_of_image>"})
    tokenizer.eos_token = "<end_of_turn>"
    tokenizer.chat_template = GEMMA_CHAT_TEMPLATE
    ids = tokenizer.convert_tokens_to_ids
    text = _text_config(tokenizer, head_dim=16, sliding_window=64)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=56,
                  patch_size=14)
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=4,
                          boi_token_index=ids("<start_of_image>"), eoi_token_index=ids("<end_of_image>"),
                          image_token_index=ids("<image_soft_token>"))
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    processor = Gemma3Processor(image_processor=Gemma3ImageProcessorPil(size={"height": 56, "width": 56}),
                                tokenizer=tokenizer, chat_template=GEMMA_CHAT_TEMPLATE, image_seq_length=4)
    return _save(model, processor, tokenizer, out)
