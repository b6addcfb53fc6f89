"""`load_model`: one loader for every command, for any HF causal LM or image-text model, or a built-in one.

`load_model(name_or_path, *, dtype=None, device=None, for_training=False, attn_implementation=None) -> LoadedModel`

- `name_or_path`: a built-in name (`tiny-llama`, `tiny-mllama`; built and cached on first use, see
  `trainers.models.builtin`), a local folder in HF layout, or a hub id (downloaded by transformers).
- The kind is read from the config: a model type that `AutoModelForImageTextToText` knows (Mllama / Llama-3.2-
  Vision, Qwen2.5-VL, Qwen3-VL, ...) loads with it and its processor (`trainers.models.families.load_processor`);
  anything else loads with `AutoModelForCausalLM` and its `AutoTokenizer`.
- `dtype`: None picks bf16 on CUDA (fp16 where bf16 is unsupported) and fp32 on CPU; otherwise "bf16",
  "bfloat16", "fp16", "float16", "fp32", "float32", "auto" or a `torch.dtype`.
- `device`: None picks "cuda" when available, else "cpu"; with `for_training=True` and no device the model
  stays on the CPU for the trainer (accelerate / DeepSpeed) to place.
- `for_training`: the model is returned in train mode (eval mode otherwise, with gradients still enabled so
  a caller can train it anyway).
- `attn_implementation`: "auto", "sdpa", "flash_attention_2" or "eager"; None: the block's
  `preferred_attention` choice, else "auto" (flash_attention_2 where flash_attn, CUDA and half precision
  allow and the model supports it, else sdpa, else eager; see `trainers.models.attention`). A choice that
  cannot run here is an `InputError`.

`LoadedModel` fields: `model`, `processor` (the processor of an image-text model, the tokenizer of a text
model), `tokenizer` (always the tokenizer; a pad token is guaranteed), `is_vision`, `device` (a
`torch.device`), `name` (what was asked for), `path` (the folder or hub id it was loaded from),
`attn_implementation` (the one it was loaded with) and `family` (`trainers.models.families.Family`).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from envs.errors import InputError, ModelLoadError
from trainers.models.attention import choose_attention
from trainers.models.builtin import BUILTIN_MODELS, ensure_builtin
from trainers.models.families import FAMILIES, Family, family_of, load_processor

log = logging.getLogger(__name__)

_DTYPE_NAMES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
                "half": "float16", "fp32": "float32", "float32": "float32", "float": "float32"}


@dataclass
class LoadedModel:
    model: Any
    processor: Any
    tokenizer: Any
    is_vision: bool
    device: Any
    name: str
    path: str
    attn_implementation: str | None = None

    @property
    def pad_token_id(self) -> int:
        return self.tokenizer.pad_token_id

    @property
    def family(self) -> Family:
        """How this model's image tensors batch (`trainers.models.families`)."""
        return family_of(getattr(getattr(self.model, "config", None), "model_type", ""))


def resolve_dtype(dtype: Any, device: Any):
    """A `torch.dtype` (or "auto") from a name; None means bf16 on CUDA and fp32 elsewhere."""
    import torch

    if isinstance(dtype, torch.dtype) or dtype == "auto":
        return dtype
    if dtype is None:
        if torch.device(device).type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    name = _DTYPE_NAMES.get(str(dtype).lower())
    if name is None:
        raise InputError(f"unknown dtype {dtype!r}; use one of {', '.join(sorted(_DTYPE_NAMES))} or auto")
    return getattr(torch, name)


def require_images_if_needed(loaded: "LoadedModel", env_config: dict, task_name: str = "") -> None:
    """Refuse a text-only model on a task whose prompts carry images (GP-VL, V-IRL-VL)."""
    from envs.errors import InputError
    from envs.spec import reads_images

    if reads_images(env_config) and not loaded.is_vision:
        what = task_name or "this task"
        raise InputError(f"{loaded.name} reads text only, but {what} shows the model images; give an image-text "
                         "model (e.g. tiny-mllama or an SFT checkpoint of one)")


def check_device(device: str):
    """`device` as a `torch.device`, refused with a clear line when this machine does not have it."""
    import torch

    from envs.errors import InputError

    try:
        target = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"--device {device!r} is not a device name (cpu, cuda, cuda:1, ...)") from None
    if target.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (target.index or 0) >= count:
            have = f"{count} CUDA device(s)" if count else "no CUDA device"
            raise InputError(f"--device {device}: this machine has {have}")
    return target


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def resolve_source(name_or_path: str) -> str:
    """A folder or hub id for `name_or_path`, building a built-in model on first use.

    Published names (`gp-l-init`, ... see `sftvsrl download --list`) resolve to their downloaded snapshot, or
    to their hub id when not downloaded yet (offline: an error naming the download command).
    """
    if name_or_path in BUILTIN_MODELS:
        return str(ensure_builtin(name_or_path))
    from trainers.hub import resolve_model_reference

    name_or_path = resolve_model_reference(name_or_path)
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a model folder (no config.json)")
        return str(path)
    if name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1:
        raise FileNotFoundError(f"model folder not found: {name_or_path}")
    return name_or_path


def is_image_text_config(config: Any) -> bool:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    return config.model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES


def load_model(name_or_path: str, *, dtype: Any = None, device: str | None = None,
               for_training: bool = False, attn_implementation: str | None = None) -> LoadedModel:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText, AutoTokenizer
    from transformers.models.auto.auto_factory import _get_model_class

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    source = resolve_source(str(name_or_path))
    with _load_errors(source, "config.json"):
        config = AutoConfig.from_pretrained(source)
    is_vision = is_image_text_config(config)
    target = check_device(device if device is not None else ("cpu" if for_training else default_device()))
    torch_dtype = resolve_dtype(dtype, target)
    model_class = AutoModelForImageTextToText if is_vision else AutoModelForCausalLM
    with _load_errors(source, "config.json"):
        concrete_class = _get_model_class(config, model_class._model_mapping)
    attention = _attention(attn_implementation, concrete_class, config, target, torch_dtype, for_training)
    with _load_errors(source, "weights"):
        model = model_class.from_pretrained(source, dtype=torch_dtype, attn_implementation=attention)
    with _load_errors(source, "tokenizer"):
        if is_vision:
            processor = load_processor(source, config.model_type)
            tokenizer = processor.tokenizer
        else:
            processor = tokenizer = AutoTokenizer.from_pretrained(source)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if getattr(tokenizer, "chat_template", None) is None and getattr(processor, "chat_template", None) is None:
        raise ModelLoadError(f"model {name_or_path!r} has no chat template; use an instruct/chat checkpoint")
    model.to(target)
    model.train(for_training)
    if is_vision and not family_of(config.model_type).tested:
        tested = ", ".join(name for name, family in FAMILIES.items() if family.tested)
        log.warning("%s: image-text family %s is untested here (tested: %s); its image tensors are batched by "
                    "concatenation along the first dimension", name_or_path, config.model_type, tested)
    return LoadedModel(model, processor, tokenizer, is_vision, target, str(name_or_path), source, attention)


def _attention(requested: str | None, model_class: Any, config: Any, target: Any, dtype: Any,
               for_training: bool) -> str:
    """The attention implementation (`trainers.models.attention.choose_attention`) for the concrete model class.
    A model loaded for training on the CPU is placed by its trainer: the choice is for where it will run, and
    trainers run under mixed precision there (bf16 autocast), so fp32 weights do not rule flash attention out."""
    import torch

    run_on = torch.device(default_device()) if for_training and target.type == "cpu" else target
    if dtype == "auto":
        dtype = getattr(config, "dtype", None) or torch.float32
        dtype = getattr(torch, dtype) if isinstance(dtype, str) else dtype
    if for_training and run_on.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return choose_attention(requested, model_class, run_on, dtype)


def _load_failures() -> tuple[type[BaseException], ...]:
    """What transformers raises for a missing or corrupt model (OSError: not found, not downloaded, bad JSON,
    no weights; ValueError / KeyError: unknown model type; SafetensorError: truncated weights; RuntimeError:
    weights of the wrong shape)."""
    from safetensors import SafetensorError

    return OSError, ValueError, KeyError, RuntimeError, SafetensorError


@contextlib.contextmanager
def _load_errors(source: str, part: str) -> Iterator[None]:
    """Turn a failure to load `part` of the model at `source` into a `ModelLoadError` naming it and what to do."""
    try:
        yield
    except _load_failures() as error:
        local = Path(source).exists()
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if not local and isinstance(error, OSError):
            advice = ("it is not a local folder and could not be fetched from the hub (offline, no such repo, or no "
                      "access): check the name, run `sftvsrl download`, or pass a local model folder")
        elif part == "config.json":
            advice = f"{Path(source) / 'config.json'} is missing or not a valid model config"
        elif part == "weights":
            advice = "its weights are missing, truncated or do not match config.json; re-download or re-save it"
        else:
            advice = "its tokenizer / processor files are missing or corrupt"
        raise ModelLoadError(f"cannot load model {source}: {advice} ({detail})") from error
