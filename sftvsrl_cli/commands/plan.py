"""`sftvsrl plan sft|ppo`: will this model fit? Per-GPU memory of a run, from the model's config.json alone.

A command of its own rather than a `--dry-run` of `sft`/`ppo`: it loads no weights, data or training stack,
so it answers in seconds on a laptop, for any world size and ZeRO stage, before a cluster job is submitted.
The arithmetic and its formulas are in `trainers.memory_plan`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from sftvsrl_cli.aliases import UnifiedCommand
from sftvsrl_cli.console import Output
from sftvsrl_cli.options import CommandError, json_option, seed_option
from trainers.memory_plan import GIB, Layout, ModelShape, plan

_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*(GiB|GB|MiB|MB|TiB|TB)?\s*$", re.IGNORECASE)
_UNITS = {"gib": GIB, "gb": 10**9, "mib": 1024**2, "mb": 10**6, "tib": 1024**4, "tb": 10**12, None: GIB}


def parse_size(text: str) -> int:
    """'80GiB', '80 GB', '141' (GiB) -> bytes."""
    match = _SIZE.match(text)
    if not match:
        raise CommandError(f"--gpu-memory: expected a size such as 80GiB or 141GB, got {text!r}")
    unit = match.group(2).lower() if match.group(2) else None
    return int(float(match.group(1)) * _UNITS[unit])


def _config_folder(model: str) -> str:
    """A folder or config.json path, a built-in model name (once built) or a hub id (config.json only)."""
    path = Path(model).expanduser()
    if path.is_file():
        if path.name != "config.json":
            raise CommandError(f"--model {model}: expected a model folder or its config.json")
        return str(path.parent)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise CommandError(f"--model {model}: the folder holds no config.json")
        return str(path)
    from trainers.models.builtin import BUILTIN_MODELS, builtin_path

    if model in BUILTIN_MODELS:
        built = builtin_path(model)
        if not (built / "config.json").is_file():
            raise CommandError(f"--model {model}: not built yet (any command that uses it builds it)")
        return str(built)
    return model


def model_shape(model: str) -> ModelShape:
    """Parameters counted on an empty (meta-device) model built from the config; no weight is loaded."""
    import transformers
    from accelerate import init_empty_weights

    folder = _config_folder(model)
    try:
        config = transformers.AutoConfig.from_pretrained(folder)
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as error:
        raise CommandError(f"--model {model}: cannot read its config ({str(error).splitlines()[0]})") from None
    text = config.get_text_config()
    auto = transformers.AutoModelForImageTextToText if hasattr(config, "vision_config") \
        else transformers.AutoModelForCausalLM
    try:
        with init_empty_weights():
            empty = auto.from_config(config)
    except (ValueError, KeyError) as error:
        raise CommandError(f"--model {model}: cannot build its architecture ({str(error).splitlines()[0]})") from None
    heads = text.num_attention_heads
    return ModelShape(parameters=sum(p.numel() for p in empty.parameters()), hidden_size=text.hidden_size,
                      num_layers=text.num_hidden_layers, vocab_size=text.vocab_size,
                      num_kv_heads=getattr(text, "num_key_value_heads", None) or heads,
                      head_dim=getattr(text, "head_dim", None) or text.hidden_size // heads)


def _gib(value: int) -> str:
    return f"{value / GIB:.2f}"


@click.command("plan", cls=UnifiedCommand)
@click.argument("kind", type=click.Choice(["sft", "ppo"]))
@click.option("--model", required=True, metavar="PATH_OR_ID", help="Model folder, its config.json, a built-in "
              "name or a hub id (only config.json is read).")
@click.option("--world-size", type=click.IntRange(min=1), default=1, show_default=True, help="GPUs in all.")
@click.option("--zero", "zero_stage", type=click.IntRange(0, 3), default=2, show_default=True, help="ZeRO stage.")
@click.option("--offload-optimizer", is_flag=True, help="Optimizer state (and its fp32 gradients) on the CPU.")
@click.option("--gpu-memory", default="80GiB", show_default=True, help="Memory of one GPU (e.g. 80GiB, 141GB).")
@click.option("--batch-size", type=click.IntRange(min=1), default=1, show_default=True,
              help="Sequences per GPU in one micro batch (PPO: per mini-batch step).")
@click.option("--max-length", type=click.IntRange(min=1), default=2048, show_default=True,
              help="Tokens per sequence, prompt and answer (image tokens included).")
@click.option("--generation-batch-size", type=click.IntRange(min=1), default=None,
              help="PPO: sequences generated together in a rollout (default: --batch-size).")
@click.option("--gradient-checkpointing/--no-gradient-checkpointing", default=None,
              help="Default: on for models over ~1B parameters, as `sftvsrl ppo` does.")
@seed_option
@json_option
@click.pass_obj
def command(output: Output, kind, model, world_size, zero_stage, offload_optimizer, gpu_memory, batch_size,
            max_length, generation_batch_size, gradient_checkpointing, seed, json_) -> None:
    """Estimate the per-GPU memory of an SFT or PPO run and say whether it fits (no weights are loaded).

    \b
    sftvsrl plan ppo --model meta-llama/Llama-3.2-11B-Vision-Instruct --world-size 8 --zero 2 --offload-optimizer
    sftvsrl plan sft --model PATH --world-size 16 --zero 3 --gpu-memory 80GiB --max-length 4096

    The estimate involves no randomness: --seed is accepted, like on every command, and changes nothing.
    """
    output.json_mode = json_
    if offload_optimizer and zero_stage == 0:
        raise CommandError("--offload-optimizer needs --zero 1, 2 or 3")
    shape = model_shape(model)
    if gradient_checkpointing is None:  # as `sftvsrl ppo` decides by default
        from trainers.ppo.engine import GRADIENT_CHECKPOINTING_ABOVE

        gradient_checkpointing = shape.parameters > GRADIENT_CHECKPOINTING_ABOVE
    layout = Layout(kind=kind, world_size=world_size, zero_stage=zero_stage, offload_optimizer=offload_optimizer,
                    batch_size=batch_size, max_length=max_length, gradient_checkpointing=gradient_checkpointing,
                    generation_batch_size=generation_batch_size or batch_size, gpu_memory=parse_size(gpu_memory))
    result = plan(shape, layout)
    summary = {"model": model, "kind": kind, "parameters": shape.parameters, "world_size": world_size,
               "zero_stage": zero_stage, "offload_optimizer": offload_optimizer,
               "gradient_checkpointing": gradient_checkpointing, "batch_size": batch_size, "max_length": max_length,
               "gpu_memory": layout.gpu_memory, **result}
    if json_:
        output.result_json(summary)
        return
    parts = [key for key in ("weights", "gradients", "optimizer", "activations", "rollout_kv_cache") if key in result]
    rows = [[part, _gib(result[part])] for part in parts]
    rows += [["total (per GPU)", _gib(result["total"])], ["usable (90% of GPU)", _gib(result["usable"])],
             ["CPU per rank (offload)", _gib(result["cpu_offloaded"])], ["fits", "yes" if result["fits"] else "no"]]
    output.info(f"{kind} {model}: {shape.parameters / 1e9:.2f}B parameters ({result['trained_parameters']:,} "
                f"trained), {world_size} GPU(s), ZeRO-{zero_stage}{' + optimizer offload' if offload_optimizer else ''}"
                f", gradient checkpointing {'on' if gradient_checkpointing else 'off'}")
    output.table("memory per GPU (GiB)", ["part", "GiB"], rows)
    verdict = "fits" if result["fits"] else "does NOT fit"
    output.info(f"{verdict}: {_gib(result['total'])} GiB of {_gib(result['usable'])} GiB usable")
