"""Resolved SFT settings (paper defaults for real models, CPU defaults for the tiny ones) and model preparation
(gradient checkpointing, freezing the vision tower / projector / language model, LoRA, one learning rate per
component).

Paper defaults (§5.2, `sft/sft_scripts/*.sh`): lr 1e-6 for text data and 5e-7 for image data, 1 epoch,
per-device batch 16, cosine with warmup 0.03, AdamW (0.9, 0.98), eps 1e-7, weight decay 0, bf16, gradient
checkpointing, a checkpoint every 20 steps. Tiny-model defaults: lr 2e-3 (1e-3 with images), 2 epochs, batch 32,
fp32, no gradient checkpointing, a checkpoint every 200 steps; they learn GP-L and GP-VL on a CPU in minutes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from envs.errors import InputError
from trainers.models.activation_checkpointing import enable_activation_checkpointing
from trainers.models.builtin import BUILTIN_MODELS

PAPER_DEFAULTS = {"learning_rate_text": 1e-6, "learning_rate_image": 5e-7, "num_epochs": 1.0,
                  "per_device_batch_size": 16, "gradient_checkpointing": True, "save_every": 20}
TINY_DEFAULTS = {"learning_rate_text": 2e-3, "learning_rate_image": 1e-3, "num_epochs": 2.0,
                 "per_device_batch_size": 32, "gradient_checkpointing": False, "save_every": 200}

VISION_TOWER_NAMES = ("vision_model", "vision_tower", "visual", "vision_encoder")
PROJECTOR_NAMES = ("multi_modal_projector", "mm_projector", "projector", "merger")


def resolve_settings(sft, model_name: str, has_images: bool):
    """A copy of the `SFTConfig` with every None default filled for this model and data."""
    table = TINY_DEFAULTS if model_name in BUILTIN_MODELS else PAPER_DEFAULTS
    filled: dict[str, Any] = {}
    if sft.learning_rate is None:
        filled["learning_rate"] = table["learning_rate_image" if has_images else "learning_rate_text"]
    for key in ("num_epochs", "per_device_batch_size", "gradient_checkpointing", "save_every"):
        if getattr(sft, key) is None:
            filled[key] = table[key]
    settings = dataclasses.replace(sft, **filled)
    for key in ("per_device_batch_size", "grad_accum_steps", "save_every", "log_every", "max_length"):
        if getattr(settings, key) < 1:
            raise InputError(f"sft_config.{key} must be at least 1, got {getattr(settings, key)}")
    if settings.max_steps is not None and settings.max_steps < 1:
        raise InputError(f"sft_config.max_steps must be at least 1, got {settings.max_steps}")
    if settings.num_epochs is not None and settings.num_epochs <= 0:
        raise InputError(f"sft_config.num_epochs must be positive, got {settings.num_epochs}")
    if not 0 <= settings.warmup_ratio < 1:
        raise InputError(f"sft_config.warmup_ratio must be in [0, 1), got {settings.warmup_ratio}")
    if settings.loss_on not in ("all", "final"):
        raise InputError(f"sft_config.loss_on must be all or final, got {settings.loss_on!r}")
    if settings.merge_lora and not settings.lora:
        raise InputError("--merge-lora needs --lora")
    for key in ("learning_rate", "projector_lr", "vision_lr"):
        value = getattr(settings, key)
        if value is not None and not value > 0:
            raise InputError(f"sft_config.{key} must be positive, got {value}")
    if settings.freeze_llm and settings.lora:
        raise InputError("--freeze-llm with --lora would freeze the adapters too; train the vision side in full "
                         "(--full --freeze-llm) or the language model with adapters (--lora)")
    return settings


def _submodules(model, names) -> list:
    return [module for name, module in model.named_modules() if name.rsplit(".", 1)[-1] in names]


def component_of(parameter_name: str) -> str:
    """"projector", "vision" or "llm": the part of a (vision-)language model a parameter belongs to. The
    projector is checked first: some families nest it in the vision module (Qwen2-VL's `visual.merger`)."""
    parts = parameter_name.split(".")
    if any(part in PROJECTOR_NAMES for part in parts):
        return "projector"
    if any(part in VISION_TOWER_NAMES for part in parts):
        return "vision"
    return "llm"


def freeze(model, vision_tower: bool, projector: bool, llm: bool = False) -> list[str]:
    """Freeze the vision tower, projector and/or language model (everything else: its layers, embeddings and
    head); returns what was frozen (errors if nothing matched)."""
    frozen = []
    if llm:
        language = [p for name, p in model.named_parameters() if component_of(name) == "llm"]
        if len(language) == len(list(model.parameters())):
            raise InputError("--freeze-llm leaves nothing to train: the model has no vision tower or projector")
        for parameter in language:
            parameter.requires_grad_(False)
        frozen.append("language model")
    for wanted, names, label in ((vision_tower, VISION_TOWER_NAMES, "vision tower"),
                                 (projector, PROJECTOR_NAMES, "projector")):
        if not wanted:
            continue
        modules = _submodules(model, names)
        if not modules:
            raise InputError(f"cannot freeze the {label}: the model has no module named {' / '.join(names)}")
        for module in modules:
            module.requires_grad_(False)
        frozen.append(label)
    return frozen


def prepare_model(model, settings) -> Any:
    """Apply gradient checkpointing, LoRA and freezing as `settings` ask; returns the model to train."""
    if settings.gradient_checkpointing:
        enable_activation_checkpointing(model)
        model.config.use_cache = False
    if settings.lora:
        from peft import LoraConfig, get_peft_model

        targets: Any = settings.lora_targets
        if list(targets) == ["all-linear"]:
            targets = "all-linear"
        config = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                            target_modules=targets, task_type="CAUSAL_LM")
        if settings.gradient_checkpointing:
            model.enable_input_require_grads()
        model = get_peft_model(model, config)
    freeze(model, settings.freeze_vision_tower, settings.freeze_projector, settings.freeze_llm)
    if not any(p.requires_grad for p in model.parameters()):
        raise InputError("nothing left to train: every parameter is frozen")
    return model


def parameter_groups(model, settings) -> tuple[list[dict[str, Any]], list[str]]:
    """The trainable parameters in optimizer groups, one per distinct rate (`learning_rate` for the language
    model, `projector_lr` / `vision_lr` for those parts, else `learning_rate`), in the model's order within a
    group and the language model's rate first; and a note per rate given for a part the model lacks or freezes."""
    rates = {"llm": settings.learning_rate, "projector": settings.projector_lr or settings.learning_rate,
             "vision": settings.vision_lr or settings.learning_rate}
    by_rate: dict[float, list] = {rates["llm"]: []}
    present = set()
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            part = component_of(name)
            present.add(part)
            by_rate.setdefault(rates[part], []).append(parameter)
    notes = [f"{option} {getattr(settings, key)} applies to nothing: no trainable {label}"
             for key, option, part, label in (("projector_lr", "--projector-lr", "projector", "projector"),
                                              ("vision_lr", "--vision-lr", "vision", "vision tower"))
             if getattr(settings, key) is not None and part not in present]
    return [{"params": params, "lr": rate} for rate, params in by_rate.items() if params], notes


def lr_lambda(kind: str, warmup_steps: int, total_steps: int):
    """The learning-rate multiplier per optimizer step (linear warmup, then cosine / linear / constant)."""
    import math

    def multiplier(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        if kind == "constant":
            return 1.0
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        progress = min(1.0, progress)
        if kind == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return multiplier
