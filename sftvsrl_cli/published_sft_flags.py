"""The published SFT script's flags (`sft/sft_scripts/*.sh`, HF `TrainingArguments` style) as `sftvsrl sft` options.

The published script runs `deepspeed src/training/train.py --model_id M --data_path D --image_folder ./ ...`.
`sftvsrl sft` takes the same flags, spelled and valued as there (`--flag value` or `--flag=value`, booleans as
`True` / `False`), so a launch script needs only its entry point changed:
`deepspeed --module sftvsrl_cli sft --model_id M --data_path D ...`. Each flag is rewritten to the sftvsrl option
that does the same before click parses the command line. Flags that only drove the published script's own data
loading (`lazy_preprocess`, `save_strategy steps`) are accepted and change nothing here; any other value of
them is refused with one line.
"""

from __future__ import annotations

from typing import Sequence

import click

VALUED = {
    "--model_id": "--model", "--data_path": "--data", "--image_folder": "--image-folder", "--output_dir": "--out",
    "--num_train_epochs": "--epochs", "--max_steps": "--max-steps", "--per_device_train_batch_size": "--batch-size",
    "--gradient_accumulation_steps": "--grad-accum", "--learning_rate": "--lr", "--projector_lr": "--projector-lr",
    "--vision_lr": "--vision-lr", "--logging_steps": "--log-every", "--save_steps": "--save-every",
    "--save_total_limit": "--save-total-limit", "--report_to": "--report-to", "--lora_rank": "--lora-r",
    "--lora_alpha": "--lora-alpha", "--max_seq_length": "--max-length", "--model_max_length": "--max-length",
    "--weight_decay": "--sft_config.weight_decay", "--warmup_ratio": "--sft_config.warmup_ratio",
    "--lr_scheduler_type": "--sft_config.lr_scheduler", "--dataloader_num_workers": "--sft_config.num_workers",
    "--lora_dropout": "--sft_config.lora_dropout", "--max_grad_norm": "--sft_config.max_grad_norm",
    "--adam_beta1": "--sft_config.adam_beta1", "--adam_beta2": "--sft_config.adam_beta2",
    "--adam_epsilon": "--sft_config.adam_eps",
}
"""Flags whose value passes through unchanged (a `--section.key` target takes it as `--section.key=value`)."""

BOOLEAN = {
    "--lora_enable": ("--lora", "--full"), "--freeze_vision_tower": ("--freeze-vision-tower", None),
    "--tune_img_projector": (None, "--freeze-projector"), "--freeze_llm": ("--freeze-llm", None),
    "--gradient_checkpointing": ("--gradient-checkpointing", "--no-gradient-checkpointing"),
    "--tf32": ("--tf32", "--no-tf32"), "--save_only_model": ("--save-only-model", None),
    "--bf16": (("--dtype", "bf16"), None), "--fp16": (("--dtype", "fp16"), None),
}
"""Flags taking True / False: the option each value becomes (None: nothing to add, it is the default)."""

NO_EFFECT = {"--lazy_preprocess": ("true", "false"), "--save_strategy": ("steps",)}
"""Flags of the published data loader: the values accepted (they change nothing here)."""

_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _split(args: Sequence[str], index: int) -> tuple[str, str, int]:
    """(flag, value, next index) for `--flag=value` or `--flag value` at `index`."""
    flag, eq, value = args[index].partition("=")
    if eq:
        return flag, value, index + 1
    last = index + 1 >= len(args) or args[index + 1].startswith("--")
    if last and flag in BOOLEAN:
        return flag, "true", index + 1  # HF's bare `--flag` means True
    if last:
        raise click.UsageError(f"option {flag} requires a value (as in the published script: {flag} VALUE)")
    return flag, args[index + 1], index + 2


def _boolean(flag: str, value: str) -> bool:
    lowered = value.strip("\"'").lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise click.UsageError(f"{flag} takes True or False, got {value!r}")


def translate_published_flags(args: Sequence[str]) -> list[str]:
    """`args` with the published script's flags rewritten as sftvsrl sft options (others left as they are)."""
    result: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        flag = token.partition("=")[0]
        if token == "--":
            result.extend(args[index:])
            break
        if flag not in VALUED and flag not in BOOLEAN and flag not in NO_EFFECT:
            result.append(token)
            index += 1
            continue
        flag, value, index = _split(args, index)
        value = value.strip("\"'")
        if flag in VALUED:
            target = VALUED[flag]
            result.extend([f"{target}={value}"] if target.startswith("--sft_config.") else [target, value])
        elif flag in BOOLEAN:
            option = BOOLEAN[flag][0 if _boolean(flag, value) else 1]
            if isinstance(option, tuple):
                result.extend(option)
            elif option:
                result.append(option)
        elif value.lower() not in NO_EFFECT[flag]:
            raise click.UsageError(f"{flag} {value} is not supported (accepted: {', '.join(NO_EFFECT[flag])}); "
                                   "sftvsrl sft checkpoints every --save-every steps")
    return result
