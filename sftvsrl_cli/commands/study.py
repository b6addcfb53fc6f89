"""`sftvsrl study`: the paper's experiment end to end (Init, SFT arm, RL arm, evaluations, equal-compute table).

The work is in `sftvsrl_cli/study/`; this module turns options into a study config and reports.
"""

from __future__ import annotations

from pathlib import Path

import click

from sftvsrl_cli.console import Output
from sftvsrl_cli.options import CommandError, json_option

ARMS = ("init", "sft", "rl", "ablation")


class StudyFailed(click.ClickException):
    exit_code = 1


def _env_pairs(values: tuple[str, ...]) -> dict:
    import yaml

    pairs = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"--env-config takes KEY=VALUE, got {value!r}")
        pairs[key.strip()] = yaml.safe_load(text) if text else None
    return pairs


def _int_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise CommandError(f"--verify-iters takes comma-separated integers, got {text!r}") from None


@click.command("study")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/study"),
              show_default=True, help="Study folder: settings, plan, every run, evaluations and results.")
@click.option("-f", "--config", "config_file", default=None,
              help="Study settings: a packaged preset (gp_l_tiny, gp_vl_tiny, virl_l, virl_vl) or a YAML/JSON file.")
@click.option("--task", type=click.Choice(["gp-l", "gp-vl", "virl-l", "virl-vl"]), default=None,
              help="Task (default: the preset's, gp-l).")
@click.option("--model", default=None, help="Base model of the Init: built-in name, folder or hub id.")
@click.option("--sft-config", default=None, help="SFT hyperparameters (Init and SFT arm): packaged name or path.")
@click.option("--rl-config", default=None, help="PPO hyperparameters (RL arm): packaged name or path.")
@click.option("--seeds", type=click.IntRange(min=1), default=None, help="Replicates (each a full study).")
@click.option("--seed", type=int, default=None, help="Seed of the first replicate.")
@click.option("--data-records", type=click.IntRange(min=1), default=None, help="ID expert records for SFT.")
@click.option("--init-steps", type=click.IntRange(min=1), default=None, help="SFT steps of the Init.")
@click.option("--sft-steps", type=click.IntRange(min=1), default=None, help="SFT steps of the SFT arm.")
@click.option("--rl-updates", type=click.IntRange(min=1), default=None, help="PPO updates of the RL arm.")
@click.option("--checkpoints", type=click.IntRange(min=1), default=None, help="Checkpoints evaluated per arm.")
@click.option("--eval-episodes", type=click.IntRange(min=1), default=None, help="Episodes per split.")
@click.option("--eval-verify-iter", type=click.IntRange(min=1), default=None, help="Attempts per episode.")
@click.option("--routes", default=None, help="V-IRL: the training city's folder.")
@click.option("--visual-ood-routes", default=None, help="V-IRL-VL: the other cities' folder.")
@click.option("--verify-iters", default=None, metavar="V,V,...",
              help="Verification-iterations ablation (Fig 10): one more RL arm per value, e.g. 1,3,5.")
@click.option("--env-config", "env_values", multiple=True, metavar="KEY=VALUE",
              help="env_config key for gen-data, ppo and eval (repeat).")
@click.option("--arm", "arms", multiple=True, type=click.Choice(ARMS),
              help="Only this arm's stages (repeat); init covers the data, the Init and its evaluation; ablation "
                   "the --verify-iters arms.")
@click.option("--plan", "plan_only", is_flag=True, help="Print the stages' sftvsrl commands; run nothing.")
@json_option
@click.pass_obj
def command(output: Output, out_dir: Path, config_file, task, model, sft_config, rl_config, seeds, seed,
            data_records, init_steps, sft_steps, rl_updates, checkpoints, eval_episodes, eval_verify_iter, routes,
            visual_ood_routes, verify_iters, env_values, arms, plan_only, json_) -> None:
    """Run the paper's protocol: an Init, then SFT and RL scaled from it, compared at equal compute.

    \b
    sftvsrl study                              # GP-L, built-in tiny model, 2-core CPU (sized for ~25 min)
    sftvsrl study --plan                       # the sftvsrl commands it runs, one per line
    sftvsrl study --out runs/s --arm rl        # one arm only (cluster jobs); then `sftvsrl study --out runs/s`
    """
    from trainers.config.errors import ConfigError
    from sftvsrl_cli.study.config import load_study_config
    from sftvsrl_cli.study.pipeline import StudyMismatch, execute_study
    from sftvsrl_cli.study.plan import build_plan, select_arms
    from sftvsrl_cli.study.runner import StageFailed, stage_done, subprocess_executor

    output.json_mode = json_
    explicit = {"task": task, "model": model, "sft_config": sft_config, "rl_config": rl_config, "seeds": seeds,
                "seed": seed, "data_records": data_records, "init_steps": init_steps, "sft_steps": sft_steps,
                "rl_updates": rl_updates, "checkpoints": checkpoints, "eval_episodes": eval_episodes,
                "eval_verify_iter": eval_verify_iter, "routes": routes, "visual_ood_routes": visual_ood_routes,
                "env_config": _env_pairs(env_values) or None, "verify_iters": _int_list(verify_iters)}
    try:
        config = load_study_config(config_file, explicit)
        stages = build_plan(config, out_dir)
    except (ConfigError, ValueError, FileNotFoundError) as error:
        raise CommandError(str(error)) from None
    selected = select_arms(stages, arms)
    if plan_only:
        _print_plan(output, selected, json_, stage_done)
        return
    try:
        study = execute_study(out_dir, config, stages, selected,
                              subprocess_executor(out_dir / "logs", stream=output.verbose > 0), output)
    except StudyMismatch as error:
        raise CommandError(str(error)) from None
    except StageFailed as error:
        raise StudyFailed(f"{error}; re-running the same command continues the study") from None
    if study is None:
        return
    _print_table(output, study, out_dir, json_)


def _print_plan(output: Output, stages, json_: bool, stage_done) -> None:
    if json_:
        output.result_json({"stages": [{**stage.as_dict(), "done": stage_done(stage)} for stage in stages]})
        return
    for stage in stages:
        click.echo(f"# {stage.name} ({stage.arm}){' [done]' if stage_done(stage) else ''}")
        click.echo(stage.command)


def _print_table(output: Output, study: dict, out_dir: Path, json_: bool) -> None:
    from sftvsrl_cli.study.results import table_rows

    if json_:
        output.result_json(study)
        return
    columns, rows = table_rows(study)
    output.table(f"study {study['config']['task']} at equal compute (% ± s.e., change vs Init)", columns, rows)
    output.info(f"study.json, report.md and figures in {out_dir}")
