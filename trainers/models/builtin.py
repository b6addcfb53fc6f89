"""Built-in tiny models (`tiny-llama`, `tiny-llama-base`, `tiny-mllama`): built on first use, then cached.

Each is written with `save_pretrained` (weights, config, tokenizer or processor, chat template) into
`$SFTVSRL_CACHE_DIR/models/<name>-v<version>` (default cache `~/.cache/sftvsrl`), so every command loads it
exactly like a downloaded checkpoint. Building is deterministic: the same weights and tokenizer every time.
Concurrent first uses are safe: one process builds under a file lock into a temporary folder that is renamed
into place when complete, the others wait and then load it.

- `tiny-llama`: `LlamaForCausalLM`, 4 layers, hidden 256, about 3.5 M parameters.
- `tiny-llama-base`: `tiny-llama` pre-trained at build time on GeneralPoints under both face-card rules and
  several targets (`trainers.models.foundation_pretraining`, about 14 CPU-minutes on one core, once), the
  stand-in for a pre-trained foundation model that reads the rule stated in its prompt.
- `tiny-mllama`: `MllamaForConditionalGeneration` with a 3-layer vision tower (224 px, 56 px patches, one
  tile), a projector and a 5-layer text model with cross-attention at layers 1 and 3 (gates opened at
  build time, see `_build_tiny_mllama`). Its vision tower is pre-trained at build time to read the ranks of
  rendered playing cards (`trainers.models.card_reader_pretraining`, about 2 minutes on one CPU core, once),
  the stand-in for a real model's pre-trained vision encoder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from envs.errors import InputError

BUILD_SEED = 1234
# Bump a version whenever its build changes (the tokenizer is trained on the tasks' texts, verifier messages
# included), so no cache built by an earlier version is reused.
VERSIONS: dict[str, int | str] = {"tiny-llama": 2, "tiny-mllama": 4}
# tiny-llama-base is tiny-llama pre-trained: its version names tiny-llama's too ("1.2": recipe 1 on
# tiny-llama v2), so a new tiny-llama never reuses a base pre-trained from the old one.
VERSIONS["tiny-llama-base"] = f"1.{VERSIONS['tiny-llama']}"
BUILTIN_MODELS = tuple(VERSIONS)
IMAGE_SIZE = 224
# 4 x 4 patches: each of the four cards of a GP-VL table falls in about one column of patches, and the
# vision pre-training learns to read them in ~800 steps (16 px patches: no progress in 400 steps).
VISION_PATCH = 56


def cache_dir() -> Path:
    return Path(os.environ.get("SFTVSRL_CACHE_DIR") or Path.home() / ".cache" / "sftvsrl")


def builtin_path(name: str) -> Path:
    return cache_dir() / "models" / f"{name}-v{VERSIONS[name]}"


def _text_config_kwargs(tokenizer) -> dict:
    return dict(
        vocab_size=len(tokenizer),
        hidden_size=256,
        intermediate_size=688,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        rms_norm_eps=1e-5,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _build_tiny_llama(out: Path) -> None:
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    from trainers.models.tokenizer import build_task_tokenizer

    tokenizer = build_task_tokenizer()
    config = LlamaConfig(num_hidden_layers=4, tie_word_embeddings=True, **_text_config_kwargs(tokenizer))
    model = LlamaForCausalLM(config)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _build_tiny_llama_base(out: Path) -> None:
    import sys

    from trainers.models import foundation_pretraining

    print("building tiny-llama-base: pre-training tiny-llama on GeneralPoints, once (about 14 minutes of one CPU "
          "core), then cached", file=sys.stderr, flush=True)
    # tiny-llama's build is deterministic, so its cached folder is the very model to start from.
    out.mkdir(parents=True, exist_ok=True)
    for item in ensure_builtin("tiny-llama").iterdir():
        if item.is_file():
            shutil.copyfile(item, out / item.name)
    foundation_pretraining.pretrain_foundation(out, foundation_pretraining.DEFAULT_RECIPE)


def _build_tiny_mllama(out: Path) -> None:
    from transformers import (
        GenerationConfig,
        MllamaConfig,
        MllamaForConditionalGeneration,
        MllamaProcessor,
        MllamaTextConfig,
        MllamaVisionConfig,
    )
    from transformers.models.mllama.image_processing_pil_mllama import MllamaImageProcessorPil

    from trainers.models.card_reader_pretraining import CardReaderRecipe, pretrain_card_reader
    from trainers.models.tokenizer import CHAT_TEMPLATE, IMAGE, build_task_tokenizer

    tokenizer = build_task_tokenizer()
    vision = MllamaVisionConfig(
        hidden_size=128,
        num_hidden_layers=2,
        num_global_layers=1,
        attention_heads=4,
        intermediate_size=256,
        intermediate_layers_indices=[1],
        vision_output_dim=256,
        image_size=IMAGE_SIZE,
        patch_size=VISION_PATCH,
        max_num_tiles=1,
        supported_aspect_ratios=[[1, 1]],
    )
    text = MllamaTextConfig(num_hidden_layers=5, cross_attention_layers=[1, 3], tie_word_embeddings=False,
                            **_text_config_kwargs(tokenizer))
    config = MllamaConfig(vision_config=vision, text_config=text, image_token_index=tokenizer.convert_tokens_to_ids(IMAGE))
    model = MllamaForConditionalGeneration(config)
    # Mllama starts its cross-attention gates at 0 (image ignored), right for adding vision to a trained LM;
    # a model trained from scratch learns to read the cards much sooner with the gates open (tanh(1) = 0.76).
    import torch

    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(("cross_attn_attn_gate", "cross_attn_mlp_gate")):
                parameter.fill_(1.0)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id
    )
    image_processor = MllamaImageProcessorPil(size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}, max_image_tiles=1)
    processor = MllamaProcessor(image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    recipe = CardReaderRecipe()
    accuracy = pretrain_card_reader(model, image_processor, recipe)
    (out / "card_reader_pretraining.json").write_text(
        json.dumps({**dataclasses.asdict(recipe), "final_rank_accuracy": round(accuracy, 4)}, indent=2) + "\n")
    model.save_pretrained(out)
    processor.save_pretrained(out)


BUILDERS: dict[str, Callable[[Path], None]] = {
    "tiny-llama": _build_tiny_llama, "tiny-llama-base": _build_tiny_llama_base, "tiny-mllama": _build_tiny_mllama}


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_builtin(name: str, out: Path) -> None:
    """Write the built-in model `name` into the folder `out` (deterministic weights)."""
    import torch
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(BUILD_SEED)
            BUILDERS[name](out)
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


def ensure_builtin(name: str) -> Path:
    """The cached folder of built-in model `name`, building it first if needed (safe across processes)."""
    if name not in VERSIONS:
        raise InputError(f"unknown built-in model {name!r}; built-in models: {', '.join(BUILTIN_MODELS)}")
    target = builtin_path(name)
    if (target / "config.json").is_file():
        return target
    with _file_lock(target.parent / f".{target.name}.lock"):
        if (target / "config.json").is_file():
            return target
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.building-"))
        try:
            build_builtin(name, staging)
            os.chmod(staging, 0o755)
            if target.exists():  # a leftover without config.json: not a complete build
                shutil.rmtree(target)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target
