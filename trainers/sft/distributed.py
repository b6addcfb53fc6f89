"""The accelerate `Accelerator` of an SFT run, with or without DeepSpeed, under any launcher.

The same code runs single-process (`sftvsrl sft ...`), under `accelerate launch`, `torchrun` and the
`deepspeed` launcher, on one or several nodes. DeepSpeed is used when `--deepspeed` names a config (`zero2`,
`zero3`, `zero3_offload` from `sftvsrl_cli/configs/deepspeed/`, or a JSON file), or when `accelerate launch`
was given a DeepSpeed config file. Its "auto" fields are filled here from the run's settings (micro batch,
accumulation, clipping, precision), so no dataloader has to pass through accelerate.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

DEEPSPEED_CONFIGS = Path(__file__).resolve().parents[2] / "sftvsrl_cli" / "configs" / "deepspeed"


def resolve_deepspeed_file(name: str | None) -> Path | None:
    """A packaged DeepSpeed config name or a file; falls back to the file `accelerate launch` was given.

    A name that is not an existing file but names a packaged config (`zero2`, `zero2.json`, or the old
    repository-relative `sftvsrl_cli/configs/deepspeed/zero2.json`) resolves to the package's copy, so the
    packaged accelerate YAMLs work from any directory."""
    if name is None:
        name = accelerate_deepspeed_file()
        if name is None:
            return None
    packaged = DEEPSPEED_CONFIGS / f"{name}.json"
    if packaged.is_file():
        return packaged
    path = Path(name).expanduser()
    by_file_name = DEEPSPEED_CONFIGS / path.name
    if not path.is_file() and path.suffix == ".json" and by_file_name.is_file() \
            and (len(path.parts) == 1 or path.parent.parts[-2:] == ("configs", "deepspeed")):
        return by_file_name
    if not path.is_file():
        choices = ", ".join(sorted(p.stem for p in DEEPSPEED_CONFIGS.glob("*.json")))
        raise FileNotFoundError(f"DeepSpeed config not found: {name} (packaged: {choices})")
    return path


def accelerate_deepspeed_file() -> str | None:
    """The deepspeed_config_file `accelerate launch` was given (None when it did not configure DeepSpeed)."""
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() != "true":
        return None
    env_file = os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE")
    if env_file and env_file != "none":
        return env_file
    raise ValueError("accelerate was configured for DeepSpeed without a deepspeed_config_file; "
                     "set one in the accelerate config or pass --deepspeed zero2|zero3")


def _fill(value: Any, resolved: Any) -> Any:
    return resolved if value == "auto" else value


def filled_deepspeed_config(path: Path, *, micro_batch: int, grad_accum: int, world_size: int,
                            max_grad_norm: float, mixed_precision: str) -> dict[str, Any]:
    """The DeepSpeed config at `path` with its "auto" values resolved for this run."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read DeepSpeed config {path}: {error}") from None
    config = copy.deepcopy(config)
    if "optimizer" in config or "scheduler" in config:
        raise ValueError(f"{path}: remove the 'optimizer'/'scheduler' sections; sftvsrl sft builds AdamW and the "
                         "schedule from its own options")
    config["train_micro_batch_size_per_gpu"] = _fill(config.get("train_micro_batch_size_per_gpu", "auto"), micro_batch)
    config["gradient_accumulation_steps"] = _fill(config.get("gradient_accumulation_steps", "auto"), grad_accum)
    config["train_batch_size"] = _fill(config.get("train_batch_size", "auto"), micro_batch * grad_accum * world_size)
    config["gradient_clipping"] = _fill(config.get("gradient_clipping", "auto"), max_grad_norm)
    for key, wanted in (("bf16", "bf16"), ("fp16", "fp16")):
        section = config.setdefault(key, {})
        section["enabled"] = _fill(section.get("enabled", "auto"), mixed_precision == wanted)
    expected = config["train_micro_batch_size_per_gpu"] * config["gradient_accumulation_steps"] * world_size
    if config["train_batch_size"] != expected:
        raise ValueError(f"{path}: train_batch_size {config['train_batch_size']} != micro batch x accumulation x "
                         f"world size ({expected}); use \"auto\"")
    return config


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def world_size_from_env() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def make_accelerator(*, deepspeed: str | None, micro_batch: int, grad_accum: int, max_grad_norm: float,
                     mixed_precision: str, report_to: list[str], project_dir: Path):
    """An Accelerator (DeepSpeed plugin when configured), its DeepSpeed config (or None)."""
    from accelerate import Accelerator
    from accelerate.utils import DeepSpeedPlugin

    ds_file = resolve_deepspeed_file(deepspeed)
    plugin, ds_config = None, None
    if ds_file is not None:
        ds_config = filled_deepspeed_config(ds_file, micro_batch=micro_batch, grad_accum=grad_accum,
                                            world_size=world_size_from_env(), max_grad_norm=max_grad_norm,
                                            mixed_precision=mixed_precision)
        plugin = DeepSpeedPlugin(hf_ds_config=ds_config, zero3_init_flag=False)
    import torch
    from accelerate.utils import InitProcessGroupKwargs

    handlers = []
    cpu = not torch.cuda.is_available()
    if plugin is not None:
        os.environ["ACCELERATE_USE_DEEPSPEED"] = "true"
        if "LOCAL_RANK" not in os.environ:  # DeepSpeed in a single process started without a launcher
            os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", LOCAL_WORLD_SIZE="1")
            os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
            os.environ.setdefault("MASTER_PORT", str(_free_port()))
        if cpu:
            # accelerate picks no backend for DeepSpeed without CUDA; gloo makes ZeRO run on CPU ranks.
            handlers.append(InitProcessGroupKwargs(backend="gloo"))
    accelerator = Accelerator(
        # Without CUDA and DeepSpeed, accelerate runs multi-process (gloo) only in CPU mode.
        cpu=cpu and plugin is None,
        kwargs_handlers=handlers,
        gradient_accumulation_steps=grad_accum,
        mixed_precision=mixed_precision,
        deepspeed_plugin=plugin,
        log_with=report_to or None,
        project_dir=str(project_dir),
    )
    return accelerator, ds_config
