"""`sftvsrl gen-data`: write SFT (or evaluation) data for an environment in the published layouts."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import click

from trainers.config import load_config
from trainers.config.schema import ExperimentConfig
from sftvsrl_cli.commands._gen_data_output import write_and_report
from envs.registry import TASKS
from sftvsrl_cli.aliases import UnifiedCommand
from sftvsrl_cli.console import Output
from sftvsrl_cli.run_folder import claim_output_dir
from sftvsrl_cli.options import (
    OVERRIDE_CONTEXT,
    CommandError,
    config_options,
    friendly_errors,
    json_option,
    seed_option,
)


@click.command("gen-data", cls=UnifiedCommand, context_settings=OVERRIDE_CONTEXT)
@click.option("--task", type=click.Choice(list(TASKS)), default=None,
              help="Task (default gp-l; the variant may also come from the config's env_config.language_only).")
@click.option("--num", type=click.IntRange(min=1), default=1000, show_default=True, help="Number of records.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--overwrite", is_flag=True, help="Replace the data an output folder already holds.")
@click.option("--format", "data_format", type=click.Choice(["llava", "messages"]), default="llava", show_default=True,
              help="llava: published conversation JSON; messages: TRL / HF datasets JSONL.")
@click.option("--ood", is_flag=True, help="Rule-OOD hands: J/Q/K = 11/12/13 and at least one face card per hand.")
@click.option("--face-cards-as-10/--face-cards-ordinal", "face_as_10", default=None,
              help="Face-card rule (default: 10, or 11/12/13 with --ood).")
@click.option("--color", type=click.Choice(["mixed", "black", "red"]), default=None, help="Suits of the cards.")
@click.option("--target", "target_points", type=click.IntRange(min=1), default=None, help="Target number (24).")
@click.option("--resolution", type=click.IntRange(min=64), default=None, help="GP-VL image side, or V-IRL-VL view side in the grid, in pixels (1200).")
@click.option("--multi-turn", is_flag=True, help="Sub-optimal trajectories: wrong attempt, verifier message, fix.")
@click.option("--city", default=None, help="virl: generate a synthetic city of this name into --out (no SFT data).")
@click.option("--num-routes", type=click.IntRange(min=1), default=1000, show_default=True, help="virl --city: routes.")
@click.option("--style", type=click.Choice(["metropolis", "mediterranean", "nordic"]), default="metropolis",
              show_default=True, help="virl --city: visual style (train in one, test visual OOD in the others).")
@click.option("--pano-width", type=click.IntRange(min=64), default=1024, show_default=True,
              help="virl --city: panorama width in pixels (height is half).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="virl --city: painting processes.")
@click.option("--routes", "routes_path", type=click.Path(exists=True), default=None,
              help="virl: a city folder (published layout) or a route_infos.json to make SFT data from.")
@click.option("--action-space", type=click.Choice(["absolute", "relative"]), default=None,
              help="virl: compass headings (ID) or left/right turns (rule OOD).")
@click.option("--prompt-template", type=click.Path(dir_okay=False, exists=True), default=None,
              help="A prompt template file replacing the built-in one.")
@seed_option
@json_option
@config_options
@click.pass_obj
@friendly_errors
def command(output: Output, task, overwrite, num, out_dir, data_format, ood, face_as_10, color, target_points,
            resolution, multi_turn, city, num_routes, style, pano_width, workers, routes_path, action_space,
            prompt_template, seed, json_, config_file, overrides) -> None:
    """Generate SFT data: each record pairs a prompt with the expert answer (same seed, same bytes).

    With --task virl-l --city NAME (or --city alone), generate a synthetic V-IRL city (routes, GPS-to-panorama mapping, panoramas)
    in the published folder layout instead.
    """
    output.json_mode = json_
    env_name, variant = task.split("-") if task else ("virl" if city or routes_path else "gp", None)
    _refuse_conflicts(env_name, {"--city": city, "--routes": routes_path, "--action-space": action_space},
                      {"--ood": ood or None, "--face-cards-as-10/--face-cards-ordinal": face_as_10, "--color": color,
                       "--target": target_points, "--multi-turn": multi_turn or None})
    claim_output_dir(out_dir, "gen-data", overwrite=overwrite)
    if env_name == "virl":
        _virl(output, variant, num, out_dir, data_format, resolution, city, num_routes, style, pano_width, workers,
              routes_path, action_space, prompt_template, seed, json_, config_file, overrides)
        return
    from envs.general_points.sft_data import GPDataSpec, generate_records
    from envs.registry import env_kwargs, load_prompt_template

    env_options = {
        **_variant_options(variant),
        "env_config.ood": True if ood else None,
        "env_config.treat_face_cards_as_10": face_as_10 if face_as_10 is not None else (False if ood else None),
        "env_config.face_cards_color": color,
        "env_config.target_points": target_points,
        "env_config.resolution": resolution,
        "prompt_config.template_path": prompt_template,
        "seed": seed,
    }
    config = load_config(ExperimentConfig, config_file, overrides, env_options, base={"seed": 0})
    env_config = env_kwargs(config.env_config)
    template = load_prompt_template(config.env_config, config.prompt_config.template_path)
    variant = "l" if env_config.language_only else "vl"
    spec = GPDataSpec(num=num, seed=config.seed, env=env_config, multi_turn=multi_turn, template=template)

    image_dir = None if env_config.language_only else out_dir / "images"
    meta = {"env": env_name, "variant": variant, "seed": config.seed, "multi_turn": multi_turn,
            "env_config": asdict(env_config)}
    write_and_report(output, f"gp-{variant}", num, lambda advance: generate_records(spec, image_dir, advance), out_dir,
                     data_format, meta, json_)


def _variant_options(variant: str | None) -> dict:
    """The text or vision variant, set the way published configs set it (both prompt flags and the env key)."""
    if variant is None:
        return {}
    text = variant == "l"
    return {"env_config.language_only": text, "prompt_config.use_language": text, "prompt_config.use_vision": not text}


def _refuse_conflicts(env_name: str, virl_only: dict, gp_only: dict) -> None:
    """Options that mean nothing for the chosen environment, or contradict each other, are refused by name."""
    if virl_only["--city"] is not None and virl_only["--routes"] is not None:
        raise click.UsageError("--city makes a new city and --routes makes SFT data from one; give only one")
    wrong = virl_only if env_name == "gp" else gp_only
    for name, value in wrong.items():
        if value is not None:
            task = "a gp task" if env_name == "virl" else "a virl task"
            raise click.UsageError(f"{name} applies to {task} only, not to the {env_name} task chosen here")


def _virl(output, variant, num, out_dir, data_format, resolution, city, num_routes, style, pano_width, workers,
          routes_path, action_space, prompt_template, seed, json_, config_file, overrides) -> None:
    from sftvsrl_cli.commands import gen_data_virl

    if city is not None:
        gen_data_virl.generate_city_command(output, out_dir, city, num_routes, style, pano_width,
                                            0 if seed is None else seed, workers, json_)
        return
    options = {
        **_variant_options(variant),
        "env_config.absolute_action": None if action_space is None else action_space == "absolute",
        "env_config.resolution": resolution,
        "prompt_config.template_path": prompt_template,
        "seed": seed,
        **gen_data_virl.city_options(routes_path),
    }
    base = {"seed": 0, "env_config": {"id": gen_data_virl.VIRL.id}}
    config = load_config(ExperimentConfig, config_file, overrides, options, base=base)
    if config.env_config.get("id") != gen_data_virl.VIRL.id:
        raise CommandError(f"--task virl-l needs a V-IRL env_config, got id {config.env_config.get('id')!r}")
    gen_data_virl.sft_data_command(output, config, num, out_dir, data_format, json_)
