"""Options, split resolution and rendering shared by `eval`, `eval-api` and `recog`."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any, Callable

import click

from envs.registry import TASKS
from sftvsrl_cli.console import Output
from sftvsrl_cli.options import config_options, json_option, seed_option

TASK_CHOICES = list(TASKS)


def eval_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Options every evaluation command takes (splits, sizes, output folder, config and overrides)."""
    decorators = [
        click.option("--task", type=click.Choice(TASK_CHOICES), default=None,
                     help="Task (default: from the config's env_config, else gp-l)."),
        click.option("--split", "split_text", default=None, metavar="NAMES",
                     help="Comma-separated splits, e.g. id,rule-ood (default: the config's split, else all)."),
        click.option("--num-traj", type=click.IntRange(min=1), default=None,
                     help="Episodes per split (default: the config's, else the published size)."),
        click.option("--verify-iter", type=click.IntRange(min=1), default=None,
                     help="Scored attempts per episode (GP) or per point (V-IRL)."),
        click.option("--batch-size", type=click.IntRange(min=1), default=None,
                     help="Episodes played at once."),
        click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Output folder (re-running continues it). Default: the config's output_dir."),
        click.option("--overwrite", is_flag=True, help="Discard what the output folder holds and start over."),
        click.option("--label", default=None, help="Row label in reports (Init, SFT, RL ...)."),
        click.option("--routes", "routes_dir", type=click.Path(file_okay=False, exists=True), default=None,
                     help="V-IRL: a city folder in the published layout (route_infos.json, mapping, street_views)."),
        click.option("--visual-ood-routes", "ood_routes_dir", type=click.Path(file_okay=False, exists=True),
                     default=None, help="V-IRL-VL visual-ood: the other cities' folder (its routes run in order)."),
        click.option("--prompt-template", type=click.Path(dir_okay=False, exists=True), default=None,
                     help="A prompt template file replacing the built-in one."),
        seed_option,
        json_option,
        config_options,
    ]
    return functools.reduce(lambda cmd, decorate: decorate(cmd), reversed(decorators), command)


def resolve_jobs(config_file, overrides, request, extra_options=None):
    """The typed config, the task, the split jobs the options ask for (`request`, an
    `evaluators.job_selection.SplitRequest`) and the prompt template."""
    from envs.registry import TASKS, load_prompt_template
    from evaluators.job_selection import select_jobs
    from trainers.config import load_config
    from trainers.config.schema import ExperimentConfig

    options = {"seed": request.seed, "num_traj": request.num_traj,
               "env_config.id": TASKS[request.task].env_id if request.task else None, **(extra_options or {})}
    config = load_config(ExperimentConfig, config_file, overrides, options)
    user_env = dict(config.eval_env_config or config.env_config) if (config_file or overrides) else {}
    task, jobs = select_jobs(config, request, from_config=bool(config_file), user_env=user_env)
    template = load_prompt_template({"id": TASKS[task].env_id}, config.prompt_config.template_path)
    return config, task, jobs, template


def output_folder(out_dir: Path | None, config, from_config: bool, default: Path) -> Path:
    """--out, else the config's output_dir when the config or an override set it, else `default`."""
    if out_dir is not None:
        return out_dir
    if from_config or "output_dir" in getattr(config, "explicit_keys", ()):
        return Path(config.output_dir)
    return default


def run_evaluation(output: Output, policy, jobs, settings, out_dir: Path, overwrite: bool) -> dict[str, Any]:
    """Evaluate with a progress bar on stderr; return the summary with timing added."""
    from evaluators.evaluation import evaluate

    total = sum(job.num_traj for job in jobs)
    output.event(f"evaluating {policy.describe().get('model', policy.name)} on "
                f"{', '.join(job.name for job in jobs)} ({total} episodes) -> {out_dir}")
    started = time.perf_counter()
    with output.progress("episodes", total=total) as bar:
        summary = evaluate(policy, jobs, settings, out_dir, overwrite, lambda split, record: bar.advance())
    seconds = time.perf_counter() - started
    return {**summary, "out_dir": str(out_dir), "seconds": round(seconds, 3)}


def render_summary(output: Output, summary: dict[str, Any], json_: bool, title: str) -> None:
    from evaluators.metrics import format_rate

    if json_:
        output.result_json(summary)
        return
    has_recognition = any("recognition" in s["metrics"] for s in summary["splits"].values())
    columns = ["split", "episodes", "success %", "step accuracy %"] + (["recognition %"] if has_recognition else [])
    rows = []
    for name, split in summary["splits"].items():
        metrics = split["metrics"]
        row = [name, split["num_traj"], format_rate(metrics.get("success")), format_rate(metrics.get("step_accuracy"))]
        if has_recognition:
            row.append(format_rate(metrics.get("recognition")))
        rows.append(row)
    output.table(title, columns, rows)
    output.info(f"logs and summary in {summary['out_dir']} ({summary['seconds']:.1f} s)")


def evaluation_run_error(error: Exception, out_dir: Path) -> Exception:
    """A `RunError` for a policy that failed mid-evaluation, saying truthfully whether re-running resumes (not
    after a request the server refused and will refuse again)."""
    from envs.errors import RunError

    resumable = getattr(error, "retryable", True)
    return RunError(f"{error} (answers so far are saved in {out_dir})", resumable=resumable,
                    not_resumable_because="the server refused the request; fix the model name, key or options, "
                    "then re-run (answers so far are kept)")
