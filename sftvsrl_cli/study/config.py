"""The settings of one study: a packaged preset (or the user's YAML/JSON file) with command-line values on top.

Presets live in `sftvsrl_cli/configs/study/<name>.json` (JSON so that the experiment-config checks, which load
every packaged `.yaml` as an `ExperimentConfig`, leave them alone; a user's file may be YAML or JSON).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from trainers.config.errors import ConfigError

PRESETS = Path(__file__).resolve().parent.parent / "configs" / "study"
TASKS = ("gp-l", "gp-vl", "virl-l", "virl-vl")
# The preset a task gets when no --config is given.
DEFAULT_PRESETS = {"gp-l": "gp_l_tiny", "gp-vl": "gp_vl_tiny", "virl-l": "virl_l", "virl-vl": "virl_vl"}


@dataclass
class StudyConfig:
    """Every setting that decides what the study runs; saved as `study_config.json` in the study folder."""

    task: str = "gp-l"
    model: str = "tiny-llama-base"
    seed: int = 0
    """First replicate's seed; replicate i uses seed + i for data, SFT and PPO."""
    seeds: int = 1
    data_records: int = 4000
    """ID-rule expert records (gen-data) that the Init and the SFT arm train on."""
    init_steps: int = 150
    sft_config: str | None = None
    """Hyperparameters of every SFT stage (Init and the SFT arm): a packaged name or a path (`sftvsrl sft -f`)."""
    sft_steps: int = 300
    rl_config: str | None = None
    """Hyperparameters of the RL arm: a packaged name or a path (`sftvsrl ppo -f`)."""
    rl_updates: int = 40
    checkpoints: int = 4
    """Checkpoints evaluated along each arm, evenly spaced in steps / updates (the last one included)."""
    eval_episodes: int = 64
    eval_seed: int = 42
    eval_verify_iter: int | None = None
    """Attempts per episode in evaluation; None: the task's published value (5 for GP, 2 for V-IRL)."""
    eval_max_new_tokens: int = 256
    eval_batch_size: int = 16
    env_config: dict[str, Any] = field(default_factory=dict)
    """env_config keys given to gen-data, ppo and eval (V-IRL data paths, resolution ...)."""
    routes: str | None = None
    """V-IRL: the training city's folder (published layout)."""
    visual_ood_routes: str | None = None
    """V-IRL-VL: the other cities' folder for the visual-ood split."""
    verify_iters: list[int] = field(default_factory=list)
    """The verification-iterations ablation (Fig 10): one more RL arm per value, training with that many
    attempts per hand (env_config.verify_iter); empty: none."""
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read study config {path}: {str(error).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a study config is a mapping of keys")
    return data


def preset_path(name: str) -> Path:
    """A study config file: a path, or a packaged preset name (`gp_l_tiny`, `study/gp_l_tiny`)."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    stem = name.removeprefix("study/").removesuffix(".json")
    candidate = PRESETS / f"{stem}.json"
    if candidate.is_file():
        return candidate
    names = ", ".join(sorted(p.stem for p in PRESETS.glob("*.json")))
    raise ConfigError(f"study config not found: {name} (packaged: {names})")


def load_study_config(config_file: str | None, explicit: Mapping[str, Any]) -> StudyConfig:
    """The preset (`config_file`, else the task's default), then every non-None value of `explicit`."""
    task = explicit.get("task") or "gp-l"
    source = preset_path(config_file) if config_file else PRESETS / f"{DEFAULT_PRESETS.get(task, '')}.json"
    values = _read(source) if source.is_file() else {}
    known = {f.name for f in dataclasses.fields(StudyConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown study key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    values.update({k: v for k, v in explicit.items() if v is not None})
    config = StudyConfig(**values)
    validate(config)
    return config


def validate(config: StudyConfig) -> None:
    if config.task not in TASKS:
        raise ConfigError(f"unknown task {config.task!r}; choose one of {', '.join(TASKS)}")
    positive = ("seeds", "data_records", "init_steps", "sft_steps", "rl_updates", "checkpoints", "eval_episodes",
                "eval_max_new_tokens", "eval_batch_size")
    for key in positive:
        value = getattr(config, key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"study setting {key} must be a positive integer, got {value!r}")
    if config.eval_verify_iter is not None and config.eval_verify_iter < 1:
        raise ConfigError(f"eval_verify_iter must be at least 1, got {config.eval_verify_iter}")
    if not isinstance(config.verify_iters, list) or any(
            not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in config.verify_iters):
        raise ConfigError(f"verify_iters must be a list of positive integers, got {config.verify_iters!r}")
    if len(set(config.verify_iters)) != len(config.verify_iters):
        raise ConfigError(f"verify_iters repeats a value: {config.verify_iters}")
    if not isinstance(config.env_config, dict):
        raise ConfigError("env_config must be a mapping of keys")
    from trainers.config.loader import resolve_config_path

    for key in ("sft_config", "rl_config"):
        if getattr(config, key):
            resolve_config_path(getattr(config, key))  # a ConfigError naming the file, before any stage runs
    if config.task.startswith("virl") and not (config.routes or config.env_config.get("route_info_path")):
        raise ConfigError(f"--task {config.task} needs route data: --routes CITY_FOLDER "
                          "(published layout, or `sftvsrl gen-data --env virl --city NAME`)")
    if config.task == "virl-vl" and not config.visual_ood_routes:
        raise ConfigError("--task virl-vl needs --visual-ood-routes (the other cities' folder) for visual-ood")


def config_digest(config: StudyConfig) -> str:
    return json.dumps(config.as_dict(), sort_keys=True)
