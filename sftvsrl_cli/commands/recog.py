"""`sftvsrl recog`: card-recognition accuracy of a vision-language model on GP-VL (paper section 5.3, Fig 8).

Verification off and one attempt per hand, as the published recognition evaluation: the model answers once
and its `cards` field is compared with the hand, per hand (all four cards named, order free) and per card.
Local checkpoints (`--model PATH`), hosted models (`--base-url URL --model NAME`) or the reference policies.
With `-f CONFIG` (the published recognition scripts), the config's env_config rule keys pick the split,
`model_path` the model and `output_dir` the output folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from evaluators.job_selection import SplitRequest
from sftvsrl_cli.aliases import UnifiedCommand
from sftvsrl_cli.commands._evaluation import (eval_options, evaluation_run_error, output_folder, resolve_jobs,
                                               run_evaluation)
from sftvsrl_cli.attention_option import attn_option
from sftvsrl_cli.console import Output
from sftvsrl_cli.options import OVERRIDE_CONTEXT, CommandError, friendly_errors


@click.command("recog", cls=UnifiedCommand, context_settings=OVERRIDE_CONTEXT)
@click.option("--model", "model", default=None, help="Checkpoint / hub id / built-in name; with --base-url, the API model.")
@click.option("--policy", type=click.Choice(["model", "oracle", "garbage"]), default="model", show_default=True)
@click.option("--base-url", default=None, help="Evaluate a model behind this OpenAI-compatible endpoint.")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, metavar="NAME")
@click.option("--concurrency", type=click.IntRange(min=1, max=256), default=8, show_default=True)
@click.option("--device", default=None)
@click.option("--dtype", default=None)
@click.option("--max-new-tokens", type=click.IntRange(min=1), default=256, show_default=True)
@attn_option
@eval_options
@click.pass_obj
@friendly_errors
def command(output: Output, model, policy, base_url, api_key_env, concurrency, device, dtype, max_new_tokens,
            attn_implementation, task,
            split_text, num_traj, verify_iter, batch_size, out_dir, overwrite, label, routes_dir, ood_routes_dir,
            prompt_template, seed, json_,
            config_file, overrides) -> None:
    """Per-card and per-hand recognition accuracy on GP-VL id and visual-ood (one attempt, no verification)."""
    from evaluators.evaluation import EvalSettings
    from evaluators.metrics import format_rate
    from evaluators.policies import PolicyFailure

    output.json_mode = json_
    if task not in (None, "gp-vl"):
        raise CommandError("recog measures GP-VL card recognition; --task must be gp-vl")
    options = {"prompt_config.template_path": prompt_template}
    # A config's env_config picks its split (the published recognition scripts differ only in those rule keys).
    default_splits = None if config_file else "id,visual-ood"
    request = SplitRequest("gp-vl", split_text or default_splits, num_traj, seed, 1, routes_dir, ood_routes_dir)
    config, task, jobs, template = resolve_jobs(config_file, overrides, request, options)
    if config_file and config.language_only:
        raise CommandError("recog measures GP-VL card recognition; the config selects the text variant "
                           "(prompt_config.use_vision: true selects the vision one)")
    model = model or config.model_path or None
    settings = EvalSettings(batch_size=batch_size or (4 * concurrency if base_url else 8), template=template,
                            enable_verification=False, label=label)
    agent, client = _agent(output, policy, model, jobs, base_url, api_key_env, concurrency, max_new_tokens,
                           dict(dtype=dtype, device=device, attn_implementation=attn_implementation))
    settings.label = label or (model or policy)
    default_out = Path("runs/recog") / "".join(c if c.isalnum() or c in "-_." else "_" for c in settings.label)
    out_dir = output_folder(out_dir, config, bool(config_file), default_out)
    try:
        summary = run_evaluation(output, agent, jobs, settings, out_dir, overwrite)
    except PolicyFailure as error:
        raise evaluation_run_error(error, out_dir) from error
    finally:
        if client is not None:
            agent.close()
            client.close()
    if json_:
        output.result_json(summary)
        return
    rows = []
    for name, split in summary["splits"].items():
        metrics = split["metrics"]
        rows.append([name, split["num_traj"], format_rate(metrics.get("card_accuracy")),
                     format_rate(metrics.get("recognition")), format_rate(metrics.get("success"))])
    output.table(f"recognition {settings.label}", ["split", "hands", "per card %", "per hand %", "success %"], rows)


def _agent(output: Output, policy: str, model, jobs, base_url, api_key_env, concurrency, max_new_tokens,
           load_options: dict):
    """(the policy to evaluate, its API client or None): a reference policy, a hosted model or a local one."""
    from envs.registry import make_adapter
    from evaluators.policies import GarbagePolicy, OraclePolicy

    if policy == "oracle":
        return OraclePolicy(make_adapter(jobs[0].env_config)), None
    if policy == "garbage":
        return GarbagePolicy(), None
    if not model:
        raise CommandError("no model: pass --model (with --base-url for an API model) or --policy oracle|garbage")
    if base_url:
        from evaluators.api_client import ChatClient
        from evaluators.api_policy import ApiPolicy

        client = ChatClient(base_url, model, os.environ.get(api_key_env) or None, max_connections=concurrency,
                            on_retry=output.retry_log())
        return ApiPolicy(client, concurrency, 0.0, max_new_tokens), client
    from evaluators.local_policy import LocalModelPolicy
    from sftvsrl_cli.stages import ensure_builtin_model
    from trainers.models import load_model

    ensure_builtin_model(output, model)
    return LocalModelPolicy(load_model(model, **load_options), max_new_tokens), None
