"""`sftvsrl eval`: evaluate local checkpoints (or the built-in reference policies) on named splits.

One model: `--model PATH|HUB_ID|tiny-llama`. Several, for the paper's table: `--model Init=PATH --model
SFT=PATH --model RL=PATH` evaluates each into `OUT/<label>/` and prints success per split with deltas against
`--baseline` (default: the first). `--policy oracle|garbage` evaluates the reference policies instead.
"""

from __future__ import annotations

from pathlib import Path

import click

from evaluators.job_selection import SplitRequest
from sftvsrl_cli.aliases import UnifiedCommand
from sftvsrl_cli.commands._evaluation import (eval_options, output_folder, render_summary, resolve_jobs,
                                               run_evaluation)
from sftvsrl_cli.attention_option import attn_option
from sftvsrl_cli.console import Output
from sftvsrl_cli.options import OVERRIDE_CONTEXT, CommandError, friendly_errors


def parse_models(values: tuple[str, ...]) -> list[tuple[str, str]]:
    """`LABEL=PATH` or `PATH` -> (label, path); labels must be distinct."""
    pairs = []
    for value in values:
        label, sep, path = value.partition("=")
        if not sep or "/" in label or not label:
            label, path = Path(value.rstrip("/")).name or value, value
        pairs.append((label, path))
    labels = [label for label, _ in pairs]
    if len(set(labels)) != len(labels):
        raise CommandError(f"two models share a label ({', '.join(labels)}); write them as LABEL=PATH")
    return pairs


@click.command("eval", cls=UnifiedCommand, context_settings=OVERRIDE_CONTEXT)
@click.option("--model", "models", multiple=True, metavar="[LABEL=]PATH",
              help="Checkpoint folder, hub id or built-in name (tiny-llama, tiny-llama-base, tiny-mllama); repeat for a table.")
@click.option("--policy", type=click.Choice(["model", "oracle", "garbage"]), default="model", show_default=True,
              help="oracle: the expert answer; garbage: hostile junk (sanity checks of the pipeline).")
@click.option("--baseline", default=None, help="Label the table's deltas are measured against (default: first).")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda when available).")
@click.option("--dtype", default=None, help="bf16, fp16, fp32 (default: bf16 on CUDA, fp32 on CPU).")
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=None,
              help="Answer length (default: the config's generation_config.max_new_tokens, else 256).")
@click.option("--temperature", type=click.FloatRange(min=0.0), default=None,
              help="Sampling temperature (default 0, greedy, unless the config sets generation_config.temperature).")
@click.option("--markdown", is_flag=True, help="Print the table as Markdown.")
@attn_option
@eval_options
@click.pass_obj
@friendly_errors
def command(output: Output, models, policy, baseline, device, dtype, max_new_tokens, temperature, markdown,
            attn_implementation, task,
            split_text, num_traj, verify_iter, batch_size, out_dir, overwrite, label, routes_dir, ood_routes_dir,
            prompt_template, seed, json_,
            config_file, overrides) -> None:
    """Evaluate checkpoints on ID/OOD splits: per-step JSONL, summary JSON, success table (resumable)."""
    from evaluators.evaluation import EvalSettings
    from evaluators.policies import GarbagePolicy, OraclePolicy
    from evaluators.report import build_report, render_report
    from envs.registry import make_adapter

    output.json_mode = json_
    options = {"prompt_config.template_path": prompt_template, "model_path": None}
    request = SplitRequest(task, split_text, num_traj, seed, verify_iter, routes_dir, ood_routes_dir)
    config, task, jobs, template = resolve_jobs(config_file, overrides, request, options)
    from_config = bool(config_file)
    if policy != "model":
        if models:
            raise click.UsageError(f"--policy {policy} plays without a model; drop --model (or use --policy model)")
        entries = [(label or policy, policy)]
    else:
        entries = parse_models(models) if models else ([(label or "model", config.model_path)] if config.model_path else [])
        if not entries:
            raise CommandError("no model: pass --model PATH (or a config with model_path), or --policy oracle|garbage")
        if label and len(entries) == 1:
            entries = [(label, entries[0][1])]
    base_out = output_folder(out_dir, config, from_config, Path("runs/eval") / task)
    several = len(entries) > 1
    summaries = []
    for entry_label, source in entries:
        if policy == "oracle":
            agent = OraclePolicy(make_adapter(jobs[0].env_config))
        elif policy == "garbage":
            agent = GarbagePolicy()
        else:
            agent = _local_policy(output, source, dtype, device, config, jobs, max_new_tokens, temperature,
                                  attn_implementation)
        settings = EvalSettings(batch_size=batch_size or 8, template=template, label=entry_label,
                                enable_verification=config.prompt_config.enable_verification)
        chosen = out_dir is not None or from_config or "output_dir" in config.explicit_keys
        target = base_out / entry_label if several or not chosen else base_out
        summaries.append(run_evaluation(output, agent, jobs, settings, target, overwrite))
    if several:
        report = build_report(summaries, baseline)
        render_report(output, report, json_, markdown)
    else:
        render_summary(output, summaries[0], json_, f"eval {entries[0][0]} ({task})")


def _local_policy(output, source, dtype, device, config, jobs, max_new_tokens, temperature, attn_implementation=None):
    """Greedy unless --temperature or the config's own generation_config.temperature asks for sampling (the
    schema's training default 0.2 is not used); answer length --max-new-tokens, else the config's
    max_new_tokens, else 256 (`max_tokens` is 'not used', as published)."""
    from evaluators.local_policy import LocalModelPolicy
    from sftvsrl_cli.stages import ensure_builtin_model
    from trainers.models import load_model
    from trainers.models.loader import require_images_if_needed

    ensure_builtin_model(output, source)
    loaded = load_model(str(source), dtype=dtype, device=device, attn_implementation=attn_implementation)
    for job in jobs:
        require_images_if_needed(loaded, job.env_config, job.name)
    generation, explicit = config.generation_config, getattr(config, "explicit_keys", frozenset())
    if temperature is None:
        temperature = generation.temperature if "generation_config.temperature" in explicit else 0.0
    do_sample = temperature > 0 and generation.do_sample
    new_tokens = max_new_tokens or (generation.max_new_tokens if "generation_config.max_new_tokens" in explicit else 256)
    return LocalModelPolicy(loaded, new_tokens, temperature, do_sample, generation.top_p)
