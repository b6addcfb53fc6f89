"""Which DeepSpeed config a run uses, filled for the run, and the accelerate `Accelerator` of an SFT run.

The same code runs single-process (`sftvsrl sft ...`), under `accelerate launch`, `torchrun` and the
`deepspeed` launcher, on one or several nodes. DeepSpeed is used when `--deepspeed` names a config (`zero2`,
`zero3`, `zero3_offload` from `sftvsrl_cli/configs/deepspeed/`, or a JSON file), or when `accelerate launch`
configured DeepSpeed: with a `deepspeed_config_file`, or with inline settings in its YAML (the published
`scripts/config_zero2_*.yaml`: `zero_stage`, `offload_optimizer_device`, `offload_param_device`, optionally
`gradient_accumulation_steps` and `gradient_clipping`), which accelerate exports as `ACCELERATE_*` variables and
which `inline_deepspeed_config` turns into a DeepSpeed config (a YAML with both is refused: the file would
override the settings). A choice is thus a name, a file, or such a dict.

The config's "auto" fields are filled here from the run's settings (micro batch, accumulation, clipping,
precision), so no dataloader has to pass through accelerate; the ZeRO sizes left "auto" (`reduce_bucket_size`,
`stage3_*`) are filled from the model's hidden size once the SFT trainer has loaded it (`fill_model_sized_values`,
as the HF Trainer does). A file's HF-Trainer-style `optimizer` and
`scheduler` sections (the published SFT `zero3_offload.json`) are taken out and returned to the SFT trainer,
which builds them (trainers/sft/deepspeed_sections.py); DeepSpeed never sees them.

The precision accelerate was launched with (`mixed_precision: bf16` arrives as ACCELERATE_MIXED_PRECISION) is
the default of a run's `--dtype` (`launcher_dtype`); an explicit `--dtype` wins, with one line saying so.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

from envs.errors import InputError
from trainers.models.families import text_hidden_size

DEEPSPEED_CONFIGS = Path(__file__).resolve().parents[2] / "sftvsrl_cli" / "configs" / "deepspeed"
HF_SECTIONS = ("optimizer", "scheduler")
OFFLOAD_DEVICES = ("none", "cpu", "nvme")
INLINE_FIELDS = ("zero_stage", "offload_optimizer_device", "offload_param_device", "gradient_accumulation_steps",
                 "gradient_clipping")
"""The DeepSpeed settings of an accelerate YAML that a DeepSpeed config file would override."""

DeepSpeedChoice = str | dict
"""A packaged config name, a JSON file, or a DeepSpeed config (what accelerate's inline settings become)."""


def resolve_deepspeed_file(name: str | None) -> Path | None:
    """A packaged DeepSpeed config name or a file; falls back to the file `accelerate launch` was given (None
    when it was given none: no DeepSpeed, or inline settings).

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


def _accelerate_configured_deepspeed() -> bool:
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"


def accelerate_deepspeed_file() -> str | None:
    """The deepspeed_config_file `accelerate launch` was given (None without one)."""
    env_file = os.environ.get("ACCELERATE_DEEPSPEED_CONFIG_FILE")
    if _accelerate_configured_deepspeed() and env_file and env_file != "none":
        return env_file
    return None


def deepspeed_choice(name: str | dict | None) -> DeepSpeedChoice | None:
    """`name` (the run's --deepspeed), else what `accelerate launch` configured: its file, or the DeepSpeed
    config its inline settings translate to; None without DeepSpeed."""
    if name:
        return name
    if not _accelerate_configured_deepspeed():
        return None
    env_file = accelerate_deepspeed_file()
    if env_file is None:
        return inline_deepspeed_config()
    given = os.environ.get("ACCELERATE_CONFIG_DS_FIELDS", "").split(",")
    both = [field for field in INLINE_FIELDS if field in given]
    if both:
        raise InputError(f"the accelerate config gives a deepspeed_config_file and {', '.join(both)}, which the "
                         "file would override; set them in the DeepSpeed file only")
    return env_file


def _env_int(variable: str, default: str, what: str) -> int:
    value = os.environ.get(variable, default)
    try:
        return int(value)
    except ValueError:
        raise InputError(f"accelerate config {what} must be a whole number, got {value!r} ({variable})") from None


def _offload(kind: str, stage: int, cuda: bool) -> dict[str, Any] | None:
    variable = f"ACCELERATE_DEEPSPEED_OFFLOAD_{kind.upper()}_DEVICE"
    device = os.environ.get(variable, "none").lower()
    if device not in OFFLOAD_DEVICES:
        raise InputError(f"accelerate config offload_{kind}_device must be none, cpu or nvme, got {device!r}")
    if device == "none":
        return None
    if device == "nvme":
        raise InputError(f"accelerate config offload_{kind}_device nvme needs an nvme_path, which accelerate "
                         "launch does not pass on; give a DeepSpeed file (deepspeed_config_file or --deepspeed)")
    if kind == "optimizer" and stage == 0:
        raise InputError("accelerate config offload_optimizer_device cpu needs zero_stage 1-3, got 0")
    if kind == "param" and stage != 3:
        raise InputError(f"accelerate config offload_param_device cpu needs zero_stage 3, got {stage}")
    return {"device": device, "pin_memory": cuda}  # pinned host memory needs CUDA


def inline_deepspeed_config() -> dict[str, Any]:
    """The DeepSpeed config of the inline settings in `accelerate launch`'s YAML, from the variables accelerate
    exports (accelerate/utils/launch.py `prepare_deepspeed_cmd_env`). Accumulation and clipping appear only
    when the YAML gives them ("auto" otherwise: the run's own values). Not exported, so not used: `overlap_comm`
    (DeepSpeed's default, off below ZeRO-3, stands), `downcast_bf16` (TPU only); `zero3_init_flag` does not
    apply (the model is loaded whole before DeepSpeed starts)."""
    import torch

    stage = _env_int("ACCELERATE_DEEPSPEED_ZERO_STAGE", "2", "zero_stage")  # accelerate's own default
    if stage not in (0, 1, 2, 3):
        raise InputError(f"accelerate config zero_stage must be 0-3, got {stage}")
    zero: dict[str, Any] = {"stage": stage}
    for kind in ("optimizer", "param"):
        offload = _offload(kind, stage, torch.cuda.is_available())
        if offload is not None:
            zero[f"offload_{kind}"] = offload
    if stage == 3:  # final/ holds whole weights, gathered from the shards
        zero["stage3_gather_16bit_weights_on_model_save"] = True
    config: dict[str, Any] = {"zero_optimization": zero, "gradient_accumulation_steps": "auto",
                              "gradient_clipping": "auto"}
    if os.environ.get("ACCELERATE_GRADIENT_ACCUMULATION_STEPS"):
        config["gradient_accumulation_steps"] = _env_int("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "1",
                                                         "gradient_accumulation_steps")
    clipping = os.environ.get("ACCELERATE_GRADIENT_CLIPPING")
    if clipping:
        try:
            config["gradient_clipping"] = float(clipping)
        except ValueError:
            raise InputError(f"accelerate config gradient_clipping must be a number, got {clipping!r}") from None
    return config


def read_deepspeed_config(choice: DeepSpeedChoice) -> tuple[dict[str, Any], str]:
    """(the config as written, where it came from: a file's path or `accelerate_label`'s line)."""
    if isinstance(choice, dict):
        return copy.deepcopy(choice), accelerate_label(choice)
    try:
        path = resolve_deepspeed_file(choice)
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise InputError(str(error)) from None
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"cannot read DeepSpeed config {choice}: {error}") from None
    if not isinstance(config, dict):
        raise InputError(f"DeepSpeed config {path} must hold a JSON object, got {type(config).__name__}")
    return config, str(path)


def accelerate_label(config: dict[str, Any]) -> str:
    """One line naming what accelerate's inline settings asked for: `accelerate: zero_stage 2, offload_optimizer
    cpu` (plus offload_param, gradient_accumulation_steps and gradient_clipping when set)."""
    zero = config.get("zero_optimization", {})
    parts = [f"zero_stage {zero.get('stage', 0)}"]
    parts += [f"offload_{kind} {zero[f'offload_{kind}']['device']}" for kind in ("optimizer", "param")
              if f"offload_{kind}" in zero]
    parts += [f"{key} {config[key]}" for key in ("gradient_accumulation_steps", "gradient_clipping")
              if config.get(key, "auto") != "auto"]
    return "accelerate: " + ", ".join(parts)


def deepspeed_label(name: str | dict | None) -> str:
    """What a run's record says about DeepSpeed: "" without it, the config file's path, or `accelerate_label`."""
    choice = deepspeed_choice(name)
    if choice is None:
        return ""
    return read_deepspeed_config(choice)[1]


def split_hf_sections(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(`config` without its `optimizer` / `scheduler` sections, {"optimizer": section or None, "scheduler": ...})."""
    rest = {key: value for key, value in config.items() if key not in HF_SECTIONS}
    return rest, {key: config.get(key) for key in HF_SECTIONS}


def _fill(value: Any, resolved: Any) -> Any:
    return resolved if value == "auto" else value


def filled_deepspeed_config(config: dict[str, Any], *, where: str, micro_batch: int, grad_accum: int,
                            world_size: int, max_grad_norm: float, mixed_precision: str) -> dict[str, Any]:
    """A copy of `config` (read from `where`) with its top-level "auto" values resolved for this run."""
    config = copy.deepcopy(config)
    if not isinstance(config.get("zero_optimization", {}), dict):
        raise InputError(f"{where}: zero_optimization must be an object")
    config["train_micro_batch_size_per_gpu"] = _fill(config.get("train_micro_batch_size_per_gpu", "auto"), micro_batch)
    config["gradient_accumulation_steps"] = _fill(config.get("gradient_accumulation_steps", "auto"), grad_accum)
    config["train_batch_size"] = _fill(config.get("train_batch_size", "auto"), micro_batch * grad_accum * world_size)
    config["gradient_clipping"] = _fill(config.get("gradient_clipping", "auto"), max_grad_norm)
    for key, wanted in (("bf16", "bf16"), ("fp16", "fp16")):
        section = config.setdefault(key, {})
        section["enabled"] = _fill(section.get("enabled", "auto"), mixed_precision == wanted)
    if config["gradient_accumulation_steps"] != grad_accum:
        raise InputError(f"{where}: gradient_accumulation_steps {config['gradient_accumulation_steps']}, but this "
                         f"run accumulates {grad_accum} micro-batches per step; make them agree or use \"auto\"")
    expected = config["train_micro_batch_size_per_gpu"] * config["gradient_accumulation_steps"] * world_size
    if config["train_batch_size"] != expected:
        raise InputError(f"{where}: train_batch_size {config['train_batch_size']} != micro batch x accumulation x "
                         f"world size ({expected}); use \"auto\"")
    return config


HIDDEN_SIZE_RULES = {"reduce_bucket_size": lambda h: h * h, "stage3_prefetch_bucket_size": lambda h: int(0.9 * h * h),
                     "stage3_param_persistence_threshold": lambda h: 10 * h}
"""ZeRO sizes a config may leave "auto", as the HF Trainer and accelerate fill them from the hidden size."""


def fill_model_sized_values(accelerator: Any, model_config: Any) -> None:
    """The ZeRO sizes the accelerator's DeepSpeed config leaves "auto", from the model's hidden size (a
    vision-language model's text model's, as the HF Trainer reads it; accelerate alone would stop there)."""
    plugin = getattr(accelerator.state, "deepspeed_plugin", None)
    if plugin is None:
        return
    zero = plugin.deepspeed_config.get("zero_optimization", {})
    auto = [key for key in HIDDEN_SIZE_RULES if zero.get(key) == "auto"]
    if not auto:
        return
    hidden = text_hidden_size(model_config)
    if hidden is None:
        raise InputError(f"the model's config gives no hidden size to fill the DeepSpeed config's \"auto\" "
                         f"{', '.join(auto)}; set numbers there")
    for key in auto:
        zero[key] = HIDDEN_SIZE_RULES[key](hidden)


PRECISIONS = {"bf16": "bf16", "bfloat16": "bf16", "fp16": "fp16", "float16": "fp16", "half": "fp16",
              "fp32": "fp32", "float32": "fp32", "no": "fp32"}


def launcher_dtype(dtype: str | None, option: str = "--dtype") -> tuple[str | None, str | None]:
    """(the dtype a run uses, a line to print or None): an explicit `dtype` as given (with a line when
    `accelerate launch` asked for another precision), else the bf16 / fp16 that accelerate was launched with.
    accelerate exports "no" whenever its config names no precision, so "no" asks for nothing."""
    asked = os.environ.get("ACCELERATE_MIXED_PRECISION", "no").lower()
    if asked == "no":
        return dtype, None
    if dtype is not None:
        if PRECISIONS.get(dtype.lower(), dtype) != asked:
            return dtype, f"accelerate launch asks for {asked} mixed precision; {option} {dtype} wins"
        return dtype, None
    if asked not in ("bf16", "fp16"):
        raise InputError(f"accelerate's mixed_precision {asked} is not supported; launch with bf16, fp16 or no, "
                         f"or give {option}")
    return asked, None


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def world_size_from_env() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def deepspeed_plugin(ds_config: dict[str, Any]):
    """accelerate's DeepSpeed plugin for a filled config."""
    from accelerate.utils import DeepSpeedPlugin

    # The DeepSpeed fields of accelerate's YAML are in ds_config now; left listed, the plugin refuses a config
    # given alongside them.
    os.environ.pop("ACCELERATE_CONFIG_DS_FIELDS", None)
    return DeepSpeedPlugin(hf_ds_config=ds_config, zero3_init_flag=False)


def make_accelerator(*, deepspeed: str | None, micro_batch: int, grad_accum: int, max_grad_norm: float,
                     mixed_precision: str, report_to: list[str], project_dir: Path):
    """(an Accelerator with a DeepSpeed plugin when configured, its DeepSpeed config or None, the config's
    HF-Trainer-style sections: {"optimizer": section or None, "scheduler": section or None})."""
    from accelerate import Accelerator

    choice = deepspeed_choice(deepspeed)
    plugin, ds_config, sections = None, None, {key: None for key in HF_SECTIONS}
    if choice is not None:
        raw, where = read_deepspeed_config(choice)
        raw, sections = split_hf_sections(raw)
        ds_config = filled_deepspeed_config(raw, where=where, micro_batch=micro_batch, grad_accum=grad_accum,
                                            world_size=world_size_from_env(), max_grad_norm=max_grad_norm,
                                            mixed_precision=mixed_precision)
        plugin = deepspeed_plugin(ds_config)
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
    return accelerator, ds_config, sections
