"""`sftvsrl ppo`: PPO on multi-turn verifier episodes (the paper's RL), single process or DeepSpeed ranks."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from trainers.config import load_config
from trainers.config.schema import ExperimentConfig
from sftvsrl_cli.aliases import UnifiedCommand
from sftvsrl_cli.attention_option import attn_option
from sftvsrl_cli.console import Output
from sftvsrl_cli.run_folder import claim_output_dir
from sftvsrl_cli.options import (OVERRIDE_CONTEXT, CommandError, config_options, friendly_errors, json_option,
                                  seed_option)

# task -> packaged config: the published hyperparameters for a given model, and CPU-sized defaults for the
# built-in tiny model.
PUBLISHED_CONFIGS = {"gp-l": "gp/rl_gp_l", "gp-vl": "gp/rl_gp_vl", "virl-l": "virl/rl_virl_l",
                     "virl-vl": "virl/rl_virl_vl"}
TINY_CONFIGS = {"gp-l": "ppo/tiny_gp_l", "gp-vl": "ppo/tiny_gp_vl"}


def _format_update(record: dict) -> str:
    from trainers.ppo.run_log import unmeasured_as_none

    record = unmeasured_as_none(record)

    def show(key: str, fmt: str) -> str:
        value = record.get(key)
        return "-" if value is None else format(value, fmt)

    line = (f"update={record['update']} env_steps={record['total_env_steps']} episodes={record['episodes']} "
            f"success={show('success_rate', '.3f')} success_est={show('success_rate_estimate', '.3f')} "
            f"first_try={show('first_attempt_accuracy', '.3f')} "
            f"reward={show('episode_reward_mean', '.2f')}"
            f"±{show('episode_reward_std', '.2f')} v_loss={show('value_loss', '.4f')} "
            f"pg_loss={show('policy_loss', '.4f')} kl={show('approx_kl', '.4f')} "
            f"clip={show('clip_fraction', '.3f')} lr={show('learning_rate', '.2e')} "
            f"gflops={show('compute_gflops', '.1f')} tok/s={show('tokens_per_second', '.0f')}")
    if record.get("recognition_accuracy") is not None:
        line += f" recog={record['recognition_accuracy']:.3f}"
    evals = {k: v for k, v in record.items() if k.startswith("eval/") and k.endswith("/success")}
    for key, value in evals.items():
        line += f" {key.removeprefix('eval/').removesuffix('/success')}={value:.3f}"
    return line


@click.command("ppo", cls=UnifiedCommand, context_settings=OVERRIDE_CONTEXT)
@click.option("--task", type=click.Choice(list(PUBLISHED_CONFIGS)), default=None,
              help="Task (default: the config's env_config, else gp-l).")
@click.option("--model", default=None, metavar="PATH_OR_ID",
              help="Policy init (folder, hub id, tiny-llama, tiny-llama-base, tiny-mllama). Default: the built-in tiny model after "
                   "its own cached SFT initialisation.")
@click.option("--out", "output_dir", default=None, help="Run folder (log.jsonl, config.yaml, checkpoints/, evals/).")
@click.option("--eval-every", type=click.IntRange(min=0), default=None,
              help="Evaluate on the task's ID and OOD splits every K updates (0: never).")
@click.option("--eval-episodes", type=click.IntRange(min=1), default=None, help="Episodes per split and evaluation.")
@click.option("--deepspeed", "deepspeed_config", default=None, metavar="NAME|FILE",
              help="Train under DeepSpeed: a packaged config (zero2, zero2_offload, zero3, zero3_offload) or a "
                   "JSON file; launch ranks with deepspeed, torchrun or accelerate launch (default: the DeepSpeed "
                   "settings of accelerate launch's config, file or inline).")
@click.option("--offload-optimizer", is_flag=True,
              help="DeepSpeed: keep the optimizer state on the CPU, stepped by DeepSpeed's CPU Adam (paper).")
@click.option("--gradient-checkpointing/--no-gradient-checkpointing", default=None,
              help="Recompute activations in the update's backward pass (default: on for models over ~1B "
                   "parameters).")
@click.option("--resume", is_flag=False, flag_value="latest", default=None, metavar="[auto]",
              help="Continue from the latest complete checkpoint in --out; `--resume auto`: only if there is one.")
@click.option("--overwrite", is_flag=True, help="Discard what the output folder holds and start over.")
@click.option("--dtype", default=None, help="Model dtype (default: accelerate launch's mixed_precision, else bf16 "
              "on CUDA, fp32 on CPU).")
@attn_option
@click.option("--cpu-threads", type=click.IntRange(min=1), default=None,
              help="torch threads on a CPU (default: 1 for models under 100M parameters).")
@click.option("--rollout-scoring", type=click.Choice(["generation", "forward"]), default="generation",
              show_default=True,
              help="Buffer log-probs and values from the sampling pass, or from a second forward (published).")
@click.option("--prefix-cache/--no-prefix-cache", default=True, show_default=True,
              help="Reuse each episode's KV cache across its turns within a rollout (text prompts).")
@click.option("--report-to", type=click.Choice(["none", "wandb", "tensorboard"]), default=None,
              help="Also log there (wandb: project $WANDB_PROJECT, else sftvsrl; files in $WANDB_DIR).")
@seed_option
@json_option
@config_options
@click.pass_obj
@friendly_errors
def command(output: Output, task, model, output_dir, eval_every, eval_episodes, deepspeed_config,
            offload_optimizer, gradient_checkpointing, resume, overwrite, dtype, attn_implementation, cpu_threads,
            rollout_scoring, prefix_cache, report_to, seed,
            json_, config_file, overrides) -> None:
    """Train a policy with PPO on multi-turn verifier episodes; logs one JSON line per update.

    \b
    sftvsrl ppo --task gp-l                                # built-in tiny model, CPU-sized defaults
    sftvsrl ppo -f gp/rl_gp_l --model_path=PATH --num_updates=20 --out runs/gp_l
    deepspeed --num_gpus 8 --no_local_rank --module sftvsrl_cli ppo -f gp/rl_gp_l --model_path=PATH --deepspeed zero2
    """
    from trainers.models.attention import preferred_attention
    from trainers.ppo.config import PPORunOptions, PPOTrainConfig
    from trainers.sft.distributed import deepspeed_choice, launcher_dtype
    from sftvsrl_cli.stages import ppo_policy_init

    output.json_mode = json_
    experiment = _experiment(task, model, output_dir, report_to, seed, config_file, overrides)
    deepspeed_config = deepspeed_choice(deepspeed_config)  # else what `accelerate launch` configured
    dtype, dtype_note = launcher_dtype(dtype)
    if dtype_note and int(os.environ.get("RANK", "0")) == 0:
        output.info(dtype_note)
    if deepspeed_config:
        from trainers.ppo.deepspeed_setup import check_deepspeed_choice

        check_deepspeed_choice(deepspeed_config, offload_optimizer, eval_every or 0)
    resume = _resume_wanted(resume, experiment.output_dir)
    if offload_optimizer and not deepspeed_config:
        raise click.UsageError("--offload-optimizer needs --deepspeed (optimizer offload is a DeepSpeed feature)")
    if int(os.environ.get("RANK", "0")) == 0:
        claim_output_dir(experiment.output_dir, "ppo", resume=resume, overwrite=overwrite)
    run = PPORunOptions(model=experiment.model_path, deepspeed=deepspeed_config, offload_optimizer=offload_optimizer,
                        gradient_checkpointing=gradient_checkpointing,
                        resume=resume, dtype=dtype, cpu_threads=cpu_threads,
                        rollout_scoring=rollout_scoring, prefix_cache=prefix_cache)
    if eval_every is not None:
        run.eval_every = eval_every
    if eval_episodes is not None:
        run.eval_episodes = eval_episodes
    config = PPOTrainConfig(experiment, run)
    rank0 = int(os.environ.get("RANK", "0")) == 0
    # Libraries (DeepSpeed's accelerator probe, ...) print to stdout; keep stdout for the result alone.
    with contextlib.redirect_stdout(sys.stderr), preferred_attention(attn_implementation):
        source, init_flops = ppo_policy_init(output if rank0 else None, config)
        record = _train(output, config, source, init_flops, rank0, json_)
    if rank0:
        _print_summary(output, experiment.output_dir, source, record, json_)


def _experiment(task, model, output_dir, report_to, seed, config_file, overrides):
    """The run's config: the packaged config of the task (published hyperparameters with --model, the tiny
    model's CPU defaults without), then the YAML file, the options and the overrides."""
    explicit_model = model or _override_value(overrides, "model_path")
    if config_file is None:
        task_key = task or "gp-l"
        if not explicit_model and task_key not in TINY_CONFIGS:
            raise CommandError(f"--task {task_key} needs --model: an SFT-initialised checkpoint (e.g. `sftvsrl sft` "
                               f"on `sftvsrl gen-data --task {task_key}` data); the built-in init covers gp-l, gp-vl")
        config_file = (PUBLISHED_CONFIGS if explicit_model else TINY_CONFIGS)[task_key]
    options = {"seed": seed, "output_dir": output_dir, "model_path": model, "report_to": report_to}
    if task is not None:
        from envs.registry import get_task

        language_only = get_task(task).language_only
        options.update({"env_config.id": get_task(task).env_id, "env_config.language_only": language_only,
                        "prompt_config.use_vision": not language_only, "prompt_config.use_language": language_only})
    return load_config(ExperimentConfig, config_file, overrides, options)


def _print_summary(output: Output, output_dir: str, source: str, record: dict, json_: bool) -> None:
    summary = {"output_dir": output_dir, "log": os.path.join(output_dir, "log.jsonl"), "model": source, **record}
    if json_:
        output.result_json(summary)
    else:
        from evaluators.metrics import format_fraction

        output.table("ppo", ["updates", "success % (last update)", "episode_reward_mean", "compute_gflops",
                             "output_dir"],
                     [[record.get("update"), format_fraction(record.get("success_rate"), record.get("episodes")),
                       record.get("episode_reward_mean"), record.get("compute_gflops"), output_dir]])


def _train(output: Output, config, source: str, init_flops: float, rank0: bool, json_: bool) -> dict:
    from trainers.ppo.trainer import train

    experiment = config.experiment
    total_rounds = config.rounds * experiment.num_updates
    with output.progress("ppo", total=total_rounds if rank0 else None) as bar:
        def report(kind: str, payload: dict) -> None:
            if kind == "round":
                success = payload.get("success_rate")
                bar.advance(1, description=f"ppo update {payload['update']}/{experiment.num_updates} "
                                           f"episodes={payload['episodes']} "
                                           f"success={'-' if success is None else f'{success:.2f}'}")
            elif not json_:
                output.event(_format_update(payload))

        return train(config, source, report if rank0 else None, init_flops, _evaluator(config))


def _resume_wanted(resume: str | None, output_dir: str) -> bool:
    """--resume (there must be a checkpoint), --resume auto (continue if there is one), or a new run."""
    from trainers.ppo.checkpoint import latest_checkpoint

    if resume not in (None, "latest", "auto"):
        raise click.BadParameter(f"{resume!r}: give --resume alone or --resume auto", param_hint="--resume")
    found = latest_checkpoint(output_dir) is not None
    if resume == "latest" and not found:
        raise CommandError(f"nothing to resume in {output_dir}: it holds no complete checkpoint; drop --resume to "
                           "start a new run (or use --resume auto)")
    return found if resume == "auto" else resume == "latest"


def _evaluator(config):
    """The periodic evaluation callback (`--eval-every`), or None."""
    if not config.options.eval_every:
        return None
    from evaluators.periodic import periodic_evaluator

    return periodic_evaluator(config.experiment.env_config, out_dir=Path(config.experiment.output_dir) / "evals",
                              episodes=config.options.eval_episodes, seed=config.experiment.seed,
                              max_new_tokens=config.max_new_tokens)


def _override_value(overrides, key: str):
    for token in overrides:
        body = token.lstrip("-")
        if body.startswith(key + "="):
            return body.split("=", 1)[1] or None
    return None
