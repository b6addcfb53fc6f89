"""Choosing and building the study's named evaluation splits (declared in each environment's `spec.py`).

A task (`gp-l`, `gp-vl`, `virl-l`, `virl-vl`) has an `id` split and its OOD splits (paper section 3):

| task | id | rule-ood | visual-ood |
|---|---|---|---|
| gp-l | J/Q/K = 10 | J/Q/K = 11/12/13, a face card in every hand | - |
| gp-vl | J/Q/K = 10, black suits | rule OOD, black suits | red suits, J/Q/K = 10 |
| virl-l | absolute actions | relative actions | - |
| virl-vl | absolute actions | relative actions | other cities' routes, in order |

V-IRL splits need route data: the user's env_config (or a city folder, `city_env_config`) for id/rule-ood,
and the other cities' folder for visual-ood.

A split's environment is the task's base config, then the user's `env_config` (data paths, resolution,
verify_iter...), then the split's rule keys, which always win. Episode `i` of a split is fixed by the seed and
`i` alone (`episode_seed`), so N episodes are the first N of any larger run and two models evaluated with the
same split and seed see the same hands and routes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from envs import registry
from envs.errors import InputError
from envs.registry import SPLITS, TASKS, get_task, task_of_env_config
from envs.spec import Split


def task_names() -> list[str]:
    return list(TASKS)


def split_names(task: str) -> list[str]:
    return [split.name for split in SPLITS.values() if split.task == task]


def get_split(task: str, name: str) -> Split:
    get_task(task)
    key = f"{task}/{name}"
    if key not in SPLITS:
        raise InputError(f"task {task} has no split {name!r}; its splits are {', '.join(split_names(task))}")
    return SPLITS[key]


def parse_split_list(task: str, text: str | None) -> list[Split]:
    """`"id,rule-ood"` -> splits of `task`; `None`, `""` or `"all"` -> every split of the task, in order."""
    if not text or text.strip() == "all":
        return [get_split(task, name) for name in split_names(task)]
    names = [part.strip() for part in text.split(",") if part.strip()]
    seen: list[Split] = []
    for name in names:
        split = get_split(task, name)
        if split not in seen:
            seen.append(split)
    return seen


def detect_split(env_config: Mapping[str, Any]) -> Split | None:
    """The named split whose rule keys an env_config matches (e.g. a published eval config), or None."""
    task = task_of_env_config(env_config)
    defaults = registry.env_defaults(TASKS[task].env_id)
    for name in split_names(task):
        split = SPLITS[f"{task}/{name}"]
        if all(env_config.get(key, defaults.get(key)) == value for key, value in split.rule_keys.items()):
            return split
    return None


def split_env_config(split: Split, user_env_config: Mapping[str, Any] | None = None,
                     other_data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The env_config of a split: task base, then the user's keys, then the split's rule keys.

    `other_data` (data-path keys) replaces the user's data paths for splits on other data (V-IRL visual OOD).
    """
    task = TASKS[split.task]
    config = dict(task.base_env_config)
    user = dict(user_env_config or {})
    if split.other_data:
        if not other_data:
            raise InputError(f"split {split.key} runs on other cities' routes: give their folder (--visual-ood-routes)")
        user.update(other_data)
    for key, value in user.items():
        if key == "id" and value != task.env_id:
            raise InputError(f"split {split.key} runs {task.env_id}, but the config's env_config.id is {value!r}")
        if key == "language_only" and bool(value) != bool(task.base_env_config["language_only"]):
            continue  # the task decides text vs image
        config[key] = value
    config.update(split.rule_keys)
    missing = [key for key in split.requires if config.get(key) in (None, "")]
    if missing:
        raise InputError(f"split {split.key} needs env_config.{missing[0]} (a data path)")
    return config


def city_env_config(folder: str | Path) -> dict[str, Any]:
    """V-IRL data keys for a folder in the published layout (route_infos.json, gps_pano_mapping.pkl,
    street_views/), as `sftvsrl gen-data --task virl-l` and the published data write it."""
    folder = Path(folder)
    routes = folder / "route_infos.json"
    if not routes.is_file():
        raise FileNotFoundError(f"{folder} has no route_infos.json (expected the published V-IRL layout)")
    offline: dict[str, Any] = {}
    if (folder / "gps_pano_mapping.pkl").is_file():
        offline["GPS_TO_PANO_PATH"] = str(folder / "gps_pano_mapping.pkl")
    if (folder / "street_views").is_dir():
        offline["PANORAMA_DIR"] = str(folder / "street_views")
    return {"route_info_path": str(routes), "platform_cfg": {"OFFLINE": offline}}


def count_routes(env_config: Mapping[str, Any]) -> int:
    from envs.virl.routes import load_route_file

    return len(load_route_file(env_config["route_info_path"]).routes)


def episode_seed(seed: int, index: int) -> int:
    """The reset seed of episode `index` under run seed `seed`, independent of how many episodes run."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(index)]).generate_state(1)[0])


def episode_reset_kwargs(split: Split | None, seed: int, index: int) -> dict[str, Any]:
    """Keyword arguments of `env.reset` for episode `index`."""
    kwargs: dict[str, Any] = {"seed": episode_seed(seed, index)}
    if split is not None and split.ordered:
        kwargs["options"] = {"route_idx": index}
    return kwargs


def metric_log_key(split_name: str, metric: str) -> str:
    """The key under which training logs record a split's metric, e.g. `eval/rule-ood/success`."""
    return f"eval/{split_name}/{metric}"
