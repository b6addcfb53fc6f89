"""The SFT training loop: data check, model preparation, accelerate / DeepSpeed steps, logs and checkpoints.

`train_sft(sft, model=..., data=..., output_dir=..., seed=..., resume=None, on_step=None) -> SFTResult`

One optimizer step consumes `per_device_batch_size x world_size x grad_accum_steps` examples in an order
fixed by the seed (see trainers/sft/batches.py). The loss is the mean cross-entropy over assistant tokens.
Every `save_every` steps and at the end a checkpoint is written (trainers/sft/checkpoint.py); the trained
model goes to `<output_dir>/final` in HF layout. `<output_dir>/train_log.jsonl` gets one line per logged step
(loss, lr, grad norm, tokens, tokens/s, elapsed, ETA, FLOPs = 6 * N * D with N the model's parameters and D
the tokens trained on; an Mllama image adds one tile's patch tokens, `image_tokens_per_image`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from envs.errors import InputError
from trainers.models.families import image_tokens_per_image
from trainers.sft import checkpoint as ckpt
from trainers.sft.batches import EncodedSFTData, epoch_order, micro_batch
from trainers.sft.data import find_data_file, load_sft_data
from trainers.sft.distributed import PRECISIONS, deepspeed_label, fill_model_sized_values, make_accelerator
from trainers.sft.deepspeed_sections import apply_optimizer_section, multiplier_for, schedule_from_section
from trainers.sft.setup import lr_lambda, parameter_groups, prepare_model, resolve_settings

LOG_FILE = "train_log.jsonl"


@dataclass
class SFTResult:
    output_dir: Path
    final_dir: Path
    steps: int
    first_loss: float | None
    last_loss: float | None
    seconds: float
    tokens: int
    flops: float
    num_examples: int
    settings: dict[str, Any]
    model: Any = None
    """The trained (unwrapped) model, for callers in the same process."""


def _precision(dtype: str | None, cuda: bool) -> str:
    name = (dtype or ("bf16" if cuda else "fp32")).lower()
    name = PRECISIONS.get(name, name)
    if name not in ("bf16", "fp16", "fp32"):
        raise InputError(f"sft_config.dtype must be bf16, fp16 or fp32, got {dtype!r}")
    return "no" if name == "fp32" else name


def _optimizer(groups, settings, ds_config):
    import torch

    kwargs = dict(lr=settings.learning_rate, betas=(settings.adam_beta1, settings.adam_beta2), eps=settings.adam_eps,
                  weight_decay=settings.weight_decay)
    offload = ((ds_config or {}).get("zero_optimization", {}).get("offload_optimizer") or {}).get("device", "none")
    if offload in ("cpu", "nvme"):
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        return DeepSpeedCPUAdam(groups, adamw_mode=True, **kwargs)
    return torch.optim.AdamW(groups, **kwargs)


def _set_tf32(enabled: bool | None) -> None:
    """TF32 matmuls and convolutions on or off (None: torch's default); only CUDA reads these flags."""
    if enabled is None:
        return
    import torch

    precision = "tf32" if enabled else "ieee"
    torch.backends.cuda.matmul.fp32_precision = precision
    torch.backends.cudnn.conv.fp32_precision = precision


def _check_trackers(report_to: list[str]) -> None:
    import importlib.util

    for name in report_to:
        module = "tensorboard" if name == "tensorboard" else "wandb"
        if importlib.util.find_spec(module) is None:
            raise InputError(f"report_to {name} needs the {module} package (pip install 'sftvsrl[tracking]')")


def _trim_log(path: Path, step: int) -> None:
    if not path.is_file():
        return
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


@dataclass
class _Run:
    """What the step loop and the final save share."""

    settings: Any
    accelerator: Any
    ds_config: dict[str, Any] | None
    loaded: Any
    dataset: EncodedSFTData
    train_model: Any
    optimizer: Any
    scheduler: Any
    total_steps: int
    steps_per_epoch: int
    repeats: int
    """How often each record appears in an epoch: 1, or more when the data is smaller than one step's batch."""
    image_tokens: int
    """Tokens an image adds to the count beyond `input_ids` (trainers/models/families.py)."""
    num_params: int
    resume_from: Path | None
    output_dir: Path
    seed: int
    run_info: dict[str, Any] = dataclasses.field(default_factory=dict)
    state: dict[str, Any] = dataclasses.field(default_factory=lambda: {
        "step": 0, "tokens": 0, "flops": 0.0, "first_loss": None, "last_loss": None})


def train_sft(sft, *, model: str, data: str, output_dir: str | Path, seed: int, resume: str | bool | None = None,
              on_step: Callable[[dict[str, Any]], None] | None = None, on_start: Callable[[dict[str, Any]], None]
              | None = None) -> SFTResult:
    from trainers.tracking import open_tracker

    run = _setup(sft, model, data, Path(output_dir), seed, resume)
    _restore(run)
    tracker = open_tracker(list(run.settings.report_to), run.output_dir, enabled=run.accelerator.is_main_process,
                           config={k: v for k, v in run.run_info.items() if k != "settings"})
    if on_start and run.accelerator.is_main_process:
        on_start(run.run_info)
    started = time.perf_counter()
    _step_loop(run, tracker, on_step, started)
    final_dir = _save_final(run)
    tracker.close()
    state = run.state
    return SFTResult(run.output_dir, final_dir, state["step"], state["first_loss"], state["last_loss"],
                     time.perf_counter() - started, state["tokens"], state["flops"], len(run.dataset),
                     dataclasses.asdict(run.settings), run.accelerator.unwrap_model(run.train_model))


def _setup(sft, model: str, data: str, output_dir: Path, seed: int, resume: str | bool | None) -> _Run:
    """Check the data and settings, then build the accelerator, the model, the optimizer and the schedule."""
    import torch
    from accelerate.utils import set_seed

    from trainers.models import load_model

    data_file = find_data_file(data)
    examples = load_sft_data(data_file, image_folder=sft.image_folder)
    settings = resolve_settings(sft, model, any(e.images for e in examples))
    _set_tf32(settings.tf32)
    _check_trackers(list(settings.report_to))
    resume_from = ckpt.resolve_resume(resume, output_dir)
    precision = _precision(settings.dtype, torch.cuda.is_available())
    micro, accum = settings.per_device_batch_size, settings.grad_accum_steps
    accelerator, ds_config, hf_sections = make_accelerator(
        deepspeed=settings.deepspeed, micro_batch=micro, grad_accum=accum, max_grad_norm=settings.max_grad_norm,
        mixed_precision=precision, report_to=[], project_dir=output_dir)  # trackers: trainers.tracking
    settings = apply_optimizer_section(hf_sections.get("optimizer"), settings)
    if ds_config and settings.lora and settings.merge_lora and ds_config["zero_optimization"].get("stage") == 3:
        raise InputError("--merge-lora is not supported with ZeRO-3; merge the saved adapter afterwards")
    set_seed(seed)
    load_dtype = "bf16" if (ds_config and precision == "bf16") else "fp32"
    loaded = load_model(model, dtype=load_dtype, device="cpu", for_training=True)
    fill_model_sized_values(accelerator, loaded.model.config)
    dataset = EncodedSFTData(loaded, examples, settings.max_length, str(data_file), loss_on=settings.loss_on)
    world = accelerator.num_processes
    batch = micro * world * accum
    repeats = 1
    if len(dataset) < batch:
        if not settings.max_steps:
            raise InputError(f"{data_file}: {len(dataset)} records are fewer than one optimizer step's batch "
                             f"({micro} per device x {world} processes x {accum} accumulation); lower the batch "
                             "or give --max-steps (each step then reuses records)")
        repeats = math.ceil(batch / len(dataset))
    steps_per_epoch = len(dataset) * repeats // batch
    total_steps = settings.max_steps or max(1, math.ceil(settings.num_epochs * steps_per_epoch))
    warmup_steps = math.ceil(settings.warmup_ratio * total_steps)
    num_params = sum(p.numel() for p in loaded.model.parameters())

    train_model = prepare_model(loaded.model, settings)
    groups, notes = parameter_groups(train_model, settings)
    group_rates = [group["lr"] for group in groups]
    optimizer = _optimizer(groups, settings, ds_config)
    schedule = schedule_from_section(hf_sections.get("scheduler"), learning_rate=settings.learning_rate,
                                     warmup_ratio=settings.warmup_ratio, total_steps=total_steps)
    multiplier = (multiplier_for(schedule, settings.learning_rate) if schedule else
                  lr_lambda(settings.lr_scheduler, warmup_steps, total_steps))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, multiplier)
    train_model, optimizer = accelerator.prepare(train_model, optimizer)
    train_model.train()
    run = _Run(settings, accelerator, ds_config, loaded, dataset, train_model, optimizer, scheduler, total_steps,
               steps_per_epoch, repeats, image_tokens_per_image(loaded.model.config), num_params, resume_from,
               output_dir, seed)
    run.run_info = {"model": model, "data": str(data_file), "seed": seed, "num_examples": len(dataset),
                    "num_params": num_params, "world_size": world, "total_steps": total_steps,
                    "steps_per_epoch": steps_per_epoch,
                    "deepspeed": deepspeed_label(settings.deepspeed), "precision": precision,
                    "truncated_examples": dataset.truncated, "start_step": 0, "settings": dataclasses.asdict(settings),
                    "schedule": schedule.describe() if schedule else
                    f"{settings.lr_scheduler}, warm-up {warmup_steps} steps",
                    "lr_groups": group_rates, "notes": notes, "record_repeats": repeats}
    return run


def _restore(run: _Run) -> None:
    """Load the checkpoint being resumed (if any) and prepare the log file."""
    log_path = run.output_dir / LOG_FILE
    if run.resume_from is not None:
        saved = ckpt.load_checkpoint(run.accelerator, run.resume_from)
        run.scheduler.load_state_dict(saved["scheduler"])
        run.state.update({k: saved[k] for k in run.state})
        if saved.get("total_steps") != run.total_steps:
            raise InputError(f"--resume: {run.resume_from} was trained for {saved.get('total_steps')} steps in all, "
                             f"this run asks for {run.total_steps}; use the same data and settings")
    if run.accelerator.is_main_process:
        run.output_dir.mkdir(parents=True, exist_ok=True)
        _trim_log(log_path, run.state["step"]) if run.resume_from else log_path.unlink(missing_ok=True)
    run.run_info["start_step"] = run.state["step"]


def _step_loop(run: _Run, tracker, on_step, started: float) -> None:
    """Optimizer steps from the current one to the last: log, report and checkpoint as configured."""
    settings, accelerator, state = run.settings, run.accelerator, run.state
    start_step = state["step"]
    window_tokens, window_time = 0, time.perf_counter()
    while state["step"] < run.total_steps:
        step_loss, step_tokens, grad_norm, lr_used = _optimizer_step(run, state["step"])
        step = state["step"] = state["step"] + 1
        state["tokens"] += step_tokens
        state["flops"] += 6.0 * run.num_params * step_tokens
        state["first_loss"] = step_loss if state["first_loss"] is None else state["first_loss"]
        state["last_loss"] = step_loss
        window_tokens += step_tokens
        if accelerator.is_main_process and (step % settings.log_every == 0 or step == run.total_steps or step == 1):
            now = time.perf_counter()
            elapsed = now - started
            record = {"step": step, "epoch": round(step / run.steps_per_epoch, 4), "loss": round(step_loss, 6),
                      "lr": lr_used,
                      "grad_norm": None if grad_norm is None else round(float(grad_norm), 6),
                      "tokens": state["tokens"], "tokens_per_s": round(window_tokens / max(now - window_time, 1e-9), 1),
                      "flops": state["flops"], "elapsed_s": round(elapsed, 2),
                      "eta_s": round(elapsed / (step - start_step) * (run.total_steps - step), 1)}
            window_tokens, window_time = 0, now
            with (run.output_dir / LOG_FILE).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            tracker.log(record, step=step)
            if on_step:
                on_step(record)
        if step % settings.save_every == 0 or step == run.total_steps:
            trainer_state = {**state, "scheduler": run.scheduler.state_dict(), "total_steps": run.total_steps,
                             "run": {k: v for k, v in run.run_info.items() if k != "start_step"}}
            ckpt.save_checkpoint(accelerator, run.train_model, run.loaded.processor, run.output_dir, step,
                                 trainer_state, keep=settings.save_total_limit, model_only=settings.save_only_model)


def _optimizer_step(run: _Run, step: int) -> tuple[float, int, Any, float]:
    """One optimizer step (all its accumulation micro-batches): (mean loss, tokens, grad norm, lr used)."""
    import torch

    from trainers.models import collate

    settings, accelerator, dataset = run.settings, run.accelerator, run.dataset
    micro, accum = settings.per_device_batch_size, settings.grad_accum_steps
    world, rank = accelerator.num_processes, accelerator.process_index
    group = micro * world * accum * 8 if settings.group_by_length else None
    epoch, in_epoch = divmod(step, run.steps_per_epoch)
    size = len(dataset) * run.repeats
    order = epoch_order(size, epoch, run.seed, dataset.lengths * run.repeats if group else None, group)
    if run.repeats > 1:
        order = [index % len(dataset) for index in order]
    loss_sum = torch.zeros((), device=accelerator.device)
    tokens = torch.zeros((), dtype=torch.long, device=accelerator.device)
    grad_norm = None
    for accum_index in range(accum):
        indices = micro_batch(order, in_epoch, accum_index, rank=rank, world=world, micro=micro, accum=accum)
        batch = collate(run.loaded, [dataset[i] for i in indices], padding_side="right")
        images = sum(len(dataset.examples[i].images) for i in indices) if dataset.uses_images else 0
        tokens += int(batch["attention_mask"].sum()) + images * run.image_tokens
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        with accelerator.accumulate(run.train_model):
            loss = run.train_model(**batch).loss
            accelerator.backward(loss)
            if accelerator.sync_gradients and run.ds_config is None and settings.max_grad_norm > 0:
                grad_norm = accelerator.clip_grad_norm_(run.train_model.parameters(), settings.max_grad_norm)
            run.optimizer.step()
            run.optimizer.zero_grad()
        loss_sum += loss.detach().float()
    lr_used = run.scheduler.get_last_lr()[0]
    run.scheduler.step()
    if run.ds_config is not None and hasattr(run.train_model, "get_global_grad_norm"):
        grad_norm = run.train_model.get_global_grad_norm()
    step_loss = float(accelerator.reduce(loss_sum / accum, reduction="mean"))
    return step_loss, int(accelerator.reduce(tokens, reduction="sum")), grad_norm, lr_used


def _save_final(run: _Run) -> Path:
    """The trained model and `sft_summary.json` to `<output_dir>/final`, through a staging folder."""
    accelerator, state = run.accelerator, run.state
    final_dir = run.output_dir / "final"
    staging = run.output_dir / ".final.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    accelerator.wait_for_everyone()
    ckpt.save_model_files(accelerator, run.train_model, run.loaded.processor, staging,
                          merge_lora=run.settings.merge_lora)
    if accelerator.is_main_process:
        summary = {**run.run_info, "steps": state["step"], "tokens": state["tokens"], "flops": state["flops"],
                   "first_loss": state["first_loss"], "last_loss": state["last_loss"]}
        (staging / "sft_summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n",
                                                  encoding="utf-8")
        shutil.rmtree(final_dir, ignore_errors=True)
        staging.rename(final_dir)
    accelerator.wait_for_everyone()
    return final_dir
