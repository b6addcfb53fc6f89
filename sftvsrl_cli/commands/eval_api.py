"""`sftvsrl eval-api`: evaluate a model behind an OpenAI-compatible chat-completions endpoint.

Pipeline-friendly: with `--json`, stdout holds one JSON summary and nothing else; progress and messages go
to stderr. Exit status 0 when every episode was evaluated, 1 when the run failed (the API gave up after its
retry budget; what was answered is kept, and re-running the same command resumes), 2 on bad options.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from evaluators.job_selection import SplitRequest
from sftvsrl_cli.aliases import UnifiedCommand
from sftvsrl_cli.commands._evaluation import (eval_options, evaluation_run_error, output_folder, render_summary,
                                               resolve_jobs, run_evaluation)
from sftvsrl_cli.console import Output
from sftvsrl_cli.options import OVERRIDE_CONTEXT, friendly_errors


@click.command("eval-api", cls=UnifiedCommand, context_settings=OVERRIDE_CONTEXT)
@click.option("--base-url", default=None,
              help="Endpoint base, e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1 (or the config's API_URL).")
@click.option("--model", "model_name", default=None, help="Model name the endpoint serves (or the config's model).")
@click.option("--api-key-env", default="OPENAI_API_KEY", show_default=True, metavar="NAME",
              help="Environment variable holding the API key (never printed or written).")
@click.option("--concurrency", type=click.IntRange(min=1, max=256), default=8, show_default=True,
              help="Requests in flight.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=120.0, show_default=True,
              help="Seconds per request.")
@click.option("--max-retries", type=click.IntRange(min=0), default=6, show_default=True,
              help="Retries per request on 429, 5xx, timeouts, connection errors and malformed answers.")
@click.option("--retry-base-delay", type=click.FloatRange(min=0.0), default=1.0, show_default=True,
              help="First backoff delay in seconds (doubles per retry, with jitter; Retry-After wins).")
@click.option("--temperature", type=click.FloatRange(min=0.0), default=None,
              help="Sampling temperature; sent only when given here or set in the config (the published API "
                   "evaluator sent none, leaving the endpoint's default).")
@click.option("--max-new-tokens", "max_tokens", type=click.IntRange(min=1), default=None,
              help="The request's max_tokens (default: the config's generation_config.max_tokens, else its "
                   "max_new_tokens, else 256).")
@click.option("--no-seed", is_flag=True, help="Do not send the per-request `seed` (for endpoints that reject it).")
@eval_options
@click.pass_obj
@friendly_errors
def command(output: Output, base_url, model_name, api_key_env, concurrency, timeout, max_retries, retry_base_delay,
            temperature, max_tokens, no_seed, task, split_text, num_traj, verify_iter, batch_size, out_dir, overwrite,
            label, routes_dir, ood_routes_dir, prompt_template, seed, json_, config_file, overrides) -> None:
    """Evaluate a hosted model on named splits (resumable; one JSON summary on stdout with --json)."""
    from evaluators.api_client import ApiError, ChatClient, RetryPolicy
    from evaluators.api_policy import ApiPolicy
    from evaluators.evaluation import EvalSettings
    from evaluators.policies import PolicyFailure

    output.json_mode = json_
    options = {"prompt_config.template_path": prompt_template}
    request = SplitRequest(task, split_text, num_traj, seed, verify_iter, routes_dir, ood_routes_dir)
    config, task, jobs, template = resolve_jobs(config_file, overrides, request, options)
    base_url, model_name = _endpoint(config, base_url, model_name)
    api_key = _api_key(output, config, api_key_env)
    temperature, max_tokens = _request_settings(config, temperature, max_tokens)
    label = label or model_name
    out_dir = output_folder(out_dir, config, bool(config_file), Path("runs/eval-api") / task / _safe(label))
    retry = RetryPolicy(max_retries=max_retries, base_delay=retry_base_delay)
    settings = EvalSettings(batch_size=batch_size or 4 * concurrency, template=template, label=label,
                            enable_verification=config.prompt_config.enable_verification)
    retry_log = output.retry_log()
    with ChatClient(base_url, model_name, api_key, timeout, retry, max_connections=concurrency,
                    on_retry=retry_log) as client:
        policy = ApiPolicy(client, concurrency, temperature, max_tokens, send_seed=not no_seed)
        try:
            summary = run_evaluation(output, policy, jobs, settings, out_dir, overwrite)
        except (ApiError, PolicyFailure) as error:
            raise evaluation_run_error(error, out_dir) from error
        finally:
            policy.close()
            retry_log.flush()
        summary["retries"] = client.retries_done
    render_summary(output, summary, json_, f"eval-api {model_name}")


def _endpoint(config, base_url: str | None, model_name: str | None) -> tuple[str, str]:
    """--base-url / --model, else the published config's API_URL / model (`--API_URL=...`, `--model=...`)."""
    from sftvsrl_cli.options import CommandError

    base_url = base_url or config.API_URL or None
    if model_name is None and "model" in getattr(config, "explicit_keys", ()):
        model_name = config.model
    if not base_url:
        raise CommandError("no endpoint: pass --base-url URL (or a config with API_URL, e.g. --API_URL=URL)")
    if not model_name:
        raise CommandError("no model: pass --model NAME (or a config with model, e.g. --model=gpt-4o)")
    return base_url, model_name


def _api_key(output: Output, config, api_key_env: str) -> str | None:
    """The config's API_KEY (a published `--API_KEY=...`; warned about), else $api_key_env."""
    if config.api_key:
        from trainers.config.published_keys import emit

        emit(["API_KEY given in a config or on the command line: command lines are visible to other users "
              f"(ps, shell history); prefer --api-key-env NAME (default ${api_key_env})"])
        return config.api_key
    api_key = os.environ.get(api_key_env) or None
    if api_key is None:
        output.info(f"${api_key_env} is not set: sending requests without an API key")
    return api_key


def _request_settings(config, temperature: float | None, max_tokens: int | None) -> tuple[float | None, int]:
    """What each request sends, as the published API evaluator: max_tokens, and a temperature only when the
    user gave one (here or in the config)."""
    generation, explicit = config.generation_config, getattr(config, "explicit_keys", frozenset())
    if temperature is None and "generation_config.temperature" in explicit:
        temperature = generation.temperature
    if max_tokens is None:
        max_tokens = generation.request_max_tokens or (
            generation.max_new_tokens if "generation_config.max_new_tokens" in explicit else 256)
    return temperature, max_tokens


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:100] or "model"
