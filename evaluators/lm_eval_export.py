"""An evaluation summary in lm-evaluation-harness's results layout (`results_<date>.json`, lm-eval 0.4).

Mapping (one lm-eval "task" per evaluated split):

- task name: `<task>_<split>`, e.g. `gp-l_id`, `gp-vl_visual-ood` (`alias` repeats it);
- `results[task]`: `"<metric>,none"` and `"<metric>_stderr,none"` for every metric of the split (success,
  step_accuracy, recognition, card_accuracy: rates in [0, 1], binomial standard errors), `"alias"`;
- `configs[task]`: the split's env_config, seed, verify_iter and primary metric (`metric_list`);
- `versions[task]`: this package's evaluation format version; `n-shot[task]`: 0;
- `higher_is_better[task]`: true for every metric; `n-samples[task]`: `{"original", "effective"}` episodes;
- `config`: the policy (`model`, `model_args`), `batch_size`, `random_seed`; plus `git_hash`, `date` (Unix
  time), `start_time`, `end_time`, `total_evaluation_time_seconds`, `transformers_version`, `model_name`.

The file name follows lm-eval: `results_<UTC ISO time with ':' replaced by '-'>.json`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

from envs.sft_records import atomic_write_text


def task_name(summary: Mapping[str, Any], split_name: str) -> str:
    return f"{summary.get('task') or 'task'}_{split_name}"


def lm_eval_results(summary: Mapping[str, Any], run: Mapping[str, Any], format_version: int) -> dict[str, Any]:
    """The lm-eval results document of one evaluation (`summary`: evaluate()'s, `run`: the run record)."""
    results, configs, versions, n_shot, higher, n_samples = {}, {}, {}, {}, {}, {}
    for split_name, split in summary["splits"].items():
        name = task_name(split, split_name)
        entry: dict[str, Any] = {"alias": name}
        for metric, value in (split.get("metrics") or {}).items():
            entry[f"{metric},none"] = value.get("rate")
            entry[f"{metric}_stderr,none"] = value.get("stderr")
        results[name] = entry
        job = next((j for j in run.get("config", {}).get("jobs", []) if j.get("name") == split_name), {})
        configs[name] = {"task": name, "env_config": job.get("env_config"), "seed": split.get("seed"),
                         "verify_iter": split.get("verify_iter"), "num_fewshot": 0,
                         "metric_list": [{"metric": m, "higher_is_better": True} for m in split.get("metrics", {})],
                         "primary_metric": split.get("primary_metric")}
        versions[name] = format_version
        n_shot[name] = 0
        higher[name] = {metric: True for metric in split.get("metrics", {})}
        n_samples[name] = {"original": split.get("num_traj"), "effective": split.get("num_traj")}
    policy = dict(summary.get("policy") or {})
    model_name = str(policy.get("model") or policy.get("policy") or "model")
    settings = run.get("config", {}).get("settings", {})
    started, finished = run.get("started"), run.get("finished")
    seconds = None
    if started and finished:
        seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    seeds = sorted({split.get("seed") for split in summary["splits"].values()} - {None})
    return {
        "results": results,
        "group_subtasks": {name: [] for name in results},
        "configs": configs,
        "versions": versions,
        "n-shot": n_shot,
        "higher_is_better": higher,
        "n-samples": n_samples,
        "config": {"model": policy.get("policy"), "model_args": policy, "batch_size": settings.get("batch_size"),
                   "batch_sizes": [], "device": None, "use_cache": None, "limit": None, "bootstrap_iters": 0,
                   "gen_kwargs": None, "random_seed": seeds[0] if len(seeds) == 1 else seeds},
        "git_hash": (run.get("git_commit") or "")[:7] or None,
        "date": datetime.fromisoformat(finished).timestamp() if finished else None,
        "transformers_version": (run.get("versions") or {}).get("transformers"),
        "model_name": model_name,
        "model_name_sanitized": "".join(c if c.isalnum() or c in "-_." else "__" for c in model_name),
        "start_time": started,
        "end_time": finished,
        "total_evaluation_time_seconds": None if seconds is None else str(seconds),
    }


def write_lm_eval_results(out_dir: Path, summary: Mapping[str, Any], run: Mapping[str, Any],
                          format_version: int) -> Path:
    """Write `out_dir/results_<time>.json`; returns its path."""
    stamp = (run.get("finished") or datetime.now().isoformat()).split("+")[0].replace(":", "-")
    path = Path(out_dir) / f"results_{stamp}.json"
    document = lm_eval_results(summary, run, format_version)
    atomic_write_text(path, json.dumps(document, indent=2, sort_keys=True, default=str) + "\n")
    return path
