"""`sftvsrl sft`: supervised fine-tuning on gen-data output, single-process or under accelerate / DeepSpeed."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

import click

from trainers.config import load_config
from trainers.config.schema import ExperimentConfig
from trainers.sft.distributed import launcher_dtype
from sftvsrl_cli.aliases import UnifiedCommand
from sftvsrl_cli.attention_option import attn_option
from sftvsrl_cli.console import Output
from sftvsrl_cli.run_folder import claim_output_dir
from sftvsrl_cli.stages import ensure_builtin_model
from sftvsrl_cli.options import OVERRIDE_CONTEXT, config_options, friendly_errors, json_option, seed_option
from sftvsrl_cli.published_sft_flags import translate_published_flags


class SFTCommand(UnifiedCommand):
    """`sft` also takes the published SFT script's flags (sftvsrl_cli/published_sft_flags.py)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, translate_published_flags(args))


@click.command("sft", cls=SFTCommand, context_settings=OVERRIDE_CONTEXT)
@click.option("--model", default=None, help="tiny-llama (default), tiny-llama-base, tiny-mllama, a model folder or a hub id.")
@click.option("--data", default=None, help="gen-data output folder, or its data.json / data.jsonl.")
@click.option("--image-folder", default=None, help="Folder that relative image paths in the data start from "
              "(default: the data file's folder).")
@click.option("--out", "output_dir", type=click.Path(file_okay=False), default=None, help="Output folder.")
@click.option("--lr", "learning_rate", type=float, default=None, help="Learning rate (paper: 1e-6 text, 5e-7 image).")
@click.option("--epochs", "num_epochs", type=float, default=None, help="Epochs (may be fractional).")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Optimizer steps (overrides --epochs).")
@click.option("--batch-size", "per_device_batch_size", type=click.IntRange(min=1), default=None, help="Per device.")
@click.option("--grad-accum", "grad_accum_steps", type=click.IntRange(min=1), default=None)
@click.option("--lora/--full", "lora", default=None, help="LoRA adapters (peft) or full fine-tuning (default).")
@click.option("--lora-r", type=click.IntRange(min=1), default=None)
@click.option("--lora-alpha", type=click.IntRange(min=1), default=None)
@click.option("--lora-targets", default=None, help="Comma-separated module names, or all-linear (default).")
@click.option("--merge-lora", is_flag=True, default=None, help="Write merged weights (not the adapter) to final/.")
@click.option("--freeze-vision-tower", is_flag=True, default=None)
@click.option("--freeze-projector", is_flag=True, default=None)
@click.option("--freeze-llm", is_flag=True, default=None, help="Train only the vision tower and projector.")
@click.option("--projector-lr", type=float, default=None, help="Projector learning rate (default: --lr).")
@click.option("--vision-lr", type=float, default=None, help="Vision tower learning rate (default: --lr).")
@click.option("--tf32/--no-tf32", default=None, help="TF32 matmuls on Ampere+ GPUs (default: torch's).")
@click.option("--save-only-model", is_flag=True, default=None,
              help="Checkpoints hold the weights only: smaller, but a run cannot resume from them.")
@click.option("--deepspeed", default=None, help="zero2, zero3, zero3_offload or a DeepSpeed JSON file (default: "
              "what accelerate launch's config sets, file or inline).")
@click.option("--dtype", default=None, help="bf16 (CUDA default), fp16 or fp32 (CPU default); under accelerate "
              "launch, its mixed_precision is the default.")
@click.option("--gradient-checkpointing/--no-gradient-checkpointing", default=None)
@attn_option
@click.option("--max-length", type=click.IntRange(min=8), default=None, help="Truncate longer records (4096).")
@click.option("--group-by-length", is_flag=True, default=None, help="Batch records of similar length together.")
@click.option("--save-every", type=click.IntRange(min=1), default=None, help="Checkpoint every N steps.")
@click.option("--save-total-limit", type=click.IntRange(min=1), default=None, help="Keep the last N checkpoints.")
@click.option("--log-every", type=click.IntRange(min=1), default=None)
@click.option("--report-to", multiple=True, type=click.Choice(["wandb", "tensorboard", "none"]),
              help="Also log there (wandb: project $WANDB_PROJECT, else sftvsrl); none: only train_log.jsonl.")
@click.option("--resume", is_flag=False, flag_value="latest", default=None,
              help="Continue from the latest checkpoint in --out; `--resume auto`: only if there is one; or a checkpoint folder.")
@click.option("--overwrite", is_flag=True, help="Discard what the output folder holds and start over.")
@click.option("--local_rank", "--local-rank", "local_rank", type=int, default=None, hidden=True)
@seed_option
@json_option
@config_options
@click.pass_obj
@friendly_errors
def command(output: Output, model, data, output_dir, resume, overwrite, local_rank, seed, json_, config_file, overrides,
            lora_targets, attn_implementation, **options) -> None:
    """Fine-tune a model on SFT conversations; the loss covers assistant tokens only."""
    from trainers.models.attention import preferred_attention
    from trainers.sft.train import train_sft

    output.json_mode = json_
    explicit = {f"sft_config.{k}": v for k, v in options.items()}
    explicit.update({"sft_config.model": model, "sft_config.data": data, "output_dir": output_dir, "seed": seed,
                     "sft_config.lora_targets": lora_targets.split(",") if lora_targets else None,
                     "sft_config.report_to": [] if "none" in options["report_to"] else
                     (list(options["report_to"]) or None)})
    config = load_config(ExperimentConfig, config_file, overrides, explicit,
                         base={"seed": 0, "output_dir": "outputs/sft"})
    sft = config.sft_config
    model_name = sft.model or config.model_path or "tiny-llama"
    if not sft.data:
        raise click.UsageError("give the training data with --data (or sft_config.data in the config)")
    dtype, dtype_note = launcher_dtype(sft.dtype)
    sft = dataclasses.replace(sft, dtype=dtype)

    if int(os.environ.get("RANK", "0")) == 0:
        if dtype_note:
            output.info(dtype_note)
        claim_output_dir(config.output_dir, "sft", resume=bool(resume), overwrite=overwrite)
    ensure_builtin_model(output, model_name)
    with contextlib.ExitStack() as stack:
        stack.enter_context(preferred_attention(attn_implementation))
        bar = {}

        def on_start(info):
            output.info(f"sft: {info['model']} on {info['num_examples']} records ({info['data']}), "
                        f"{info['total_steps']} steps, {info['world_size']} process(es), "
                        f"{info['num_params'] / 1e6:.1f} M parameters -> {config.output_dir}")
            if info["start_step"]:
                output.info(f"resuming at step {info['start_step']}")
            if info["truncated_examples"]:
                output.info(f"{info['truncated_examples']} record(s) truncated to max_length")
            if info["record_repeats"] > 1:
                output.info(f"the data is smaller than one step's batch: each record appears "
                            f"{info['record_repeats']} times per epoch")
            if info["schedule"].startswith("DeepSpeed"):
                output.info(f"learning rate from the DeepSpeed file's scheduler section: {info['schedule']}")
            for note in info["notes"]:
                output.info(f"Warning: {note}")
            bar["handle"] = stack.enter_context(output.progress("sft", total=info["total_steps"]))
            bar["handle"].advance(info["start_step"])
            bar["at"] = info["start_step"]

        def on_step(record):
            text = (f"sft loss {record['loss']:.4f} lr {record['lr']:.2e} {record['tokens_per_s']:.0f} tok/s")
            bar["handle"].advance(record["step"] - bar["at"], description=text)
            bar["at"] = record["step"]
            if not output.fancy and not output.json_mode:
                output.event(f"step {record['step']}: {text[4:]}, eta {record['eta_s']:.0f}s")

        result = train_sft(sft, model=model_name, data=sft.data, output_dir=Path(config.output_dir), seed=config.seed,
                           resume=resume, on_step=on_step, on_start=on_start)
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return
    summary = {"model": model_name, "final": str(result.final_dir), "steps": result.steps,
               "first_loss": result.first_loss, "last_loss": result.last_loss, "tokens": result.tokens,
               "flops": result.flops, "seconds": round(result.seconds, 2), "records": result.num_examples}
    if json_:
        output.result_json(summary)
    else:
        output.table("sft", ["steps", "loss (first -> last)", "tokens", "FLOPs", "seconds", "model"],
                     [[result.steps, f"{result.first_loss:.4f} -> {result.last_loss:.4f}", result.tokens,
                       f"{result.flops:.3g}", summary["seconds"], summary["final"]]])
