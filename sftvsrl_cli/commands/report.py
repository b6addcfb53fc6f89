"""`sftvsrl report`: the paper's ID/OOD table from saved evaluation summaries, and compute curves."""

from __future__ import annotations

from pathlib import Path

import click

from envs.errors import InputError
from sftvsrl_cli.console import Output
from sftvsrl_cli.options import friendly_errors, json_option, seed_option


@click.command("report")
@click.argument("summaries", nargs=-1, required=True, metavar="[LABEL=]PATH...")
@click.option("--baseline", default=None, help="Row the deltas are measured against (default: the first).")
@click.option("--markdown", is_flag=True, help="Print a Markdown table.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a PNG of success against training compute from the --log files.")
@click.option("--log", "logs", multiple=True, metavar="LABEL=JSONL", help="A training log for --plot (repeat).")
@click.option("--metric", default="success", show_default=True, help="Metric plotted from the logs.")
@seed_option
@json_option
@click.pass_obj
@friendly_errors
def command(output: Output, summaries, baseline, markdown, plot_path, logs, metric, seed, json_) -> None:
    """Table of runs (rows: Init/SFT/RL...) by split (ID, each OOD) with ± s.e. and Δ pp vs a baseline.

    PATH is an evaluation folder (holding summary.json), a summary.json, or a folder of evaluation folders.
    """
    from evaluators.report import build_report, load_summaries, render_report

    output.json_mode = json_
    report = build_report(load_summaries(summaries), baseline)
    if plot_path is not None:
        from evaluators.plot import plot_logs

        if not logs:
            raise click.UsageError("--plot needs at least one --log LABEL=JSONL")
        pairs = []
        for item in logs:
            label, sep, path = item.partition("=")
            pairs.append((label, Path(path)) if sep else (Path(item).stem, Path(item)))
        try:
            report["plot"] = str(plot_logs(pairs, plot_path, metric))
        except RuntimeError as error:
            raise InputError(str(error)) from None
        output.info(f"plot written to {plot_path}")
    render_report(output, report, json_, markdown)
