"""Which split jobs an evaluation runs, from a loaded config and the user's choices (`eval`, `eval-api`,
`recog`): a published evaluation config names one split (detected from its rule keys), or the user lists
splits of a task; V-IRL data comes from the config or from city folders."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from envs.registry import SPLITS, TASKS, task_of_env_config
from evaluators.evaluation import SplitJob, split_job
from evaluators.splits import city_env_config, detect_split, parse_split_list


@dataclass(frozen=True)
class SplitRequest:
    """What the user asked for; None leaves the choice to the config (or the published defaults)."""

    task: str | None = None
    splits: str | None = None
    """Comma-separated split names, `all`, or None."""
    num_traj: int | None = None
    seed: int | None = None
    verify_iter: int | None = None
    routes_dir: str | None = None
    ood_routes_dir: str | None = None


def select_jobs(config: Any, request: SplitRequest, *, from_config: bool, user_env: dict) -> tuple[str, list[SplitJob]]:
    """(task, split jobs) for `config` (an ExperimentConfig) and `request`; `user_env` is the config's own
    env_config when a file or an override gave one, else empty."""
    task = request.task or (task_of_env_config(user_env) if user_env else "gp-l")
    if request.routes_dir:
        user_env = {**user_env, **city_env_config(request.routes_dir), "id": TASKS[task].env_id}
    other_data = city_env_config(request.ood_routes_dir) if request.ood_routes_dir else None
    if request.splits is None and from_config:
        split = detect_split(user_env) if task_of_env_config(user_env) == task else None
        if split is not None and config.order:
            split, other_data = ordered_split(split), other_data or dict(user_env)
        if split is None:
            env_config = {**TASKS[task].base_env_config, **user_env}
            if request.verify_iter is not None:
                env_config["verify_iter"] = request.verify_iter
            return task, [SplitJob("custom", env_config, config.num_traj, config.seed)]
        return task, [split_job(split, user_env, config.num_traj, config.seed, request.verify_iter, other_data)]
    size = request.num_traj if request.num_traj is not None else (config.num_traj if from_config else None)
    run_seed = request.seed if request.seed is not None else (config.seed if from_config else None)
    splits = parse_split_list(task, request.splits)
    if request.splits is None and other_data is None:  # "all" without other-city data: the splits it allows
        splits = [s for s in splits if not s.other_data] or splits
    return task, [split_job(s, user_env, size, run_seed, request.verify_iter, other_data) for s in splits]


def ordered_split(split):
    """The published `order: true` evaluation of a detected split: episode i plays route i. The task's ordered
    split with the same rules when it has one (V-IRL-VL visual OOD, on the config's own route file), else the
    split itself played in order; on environments without routes (GeneralPoints) `order` has no effect."""
    from trainers.config.published_keys import emit

    if "route_info_path" not in split.requires:
        emit([f"config key 'order' = True has no effect on {split.task} (its episodes have no routes to order)"])
        return split
    for candidate in SPLITS.values():
        if (candidate.task == split.task and candidate.ordered
                and all(split.rule_keys.get(key) == value for key, value in candidate.rule_keys.items())):
            return candidate
    return dataclasses.replace(split, ordered=True)
