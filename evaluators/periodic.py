"""Evaluation during PPO training (`--eval-every K`): the current policy on the task's ID and OOD splits.

The PPO trainer knows nothing of evaluators: it calls the callback `periodic_evaluator` builds (given by the
CLI) with the model being trained and the update number. Uses the named splits of `evaluators.splits`, the episode runner of `evaluators.evaluation` and the local-model
policy of `evaluators.local_policy`, so the numbers are the ones `sftvsrl eval` reports, on the same fixed
episodes (split + seed + N) at every evaluation. Decoding is greedy (the published evaluation setting), so an
evaluation is a deterministic function of the weights. Splits on other data (V-IRL visual OOD: other cities'
routes) are skipped. Results land in `<output_dir>/evals/update_<N>/` and as `eval/<split>/<metric>` keys in
the training log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from envs.registry import task_of_env_config
from evaluators.evaluation import EvalSettings, evaluate, split_job
from evaluators.local_policy import LocalModelPolicy
from evaluators.splits import metric_log_key, parse_split_list


def periodic_evaluator(env_config: Mapping[str, Any], *, out_dir: Path, episodes: int, seed: int,
                       max_new_tokens: int, batch_size: int = 16) -> Callable[[Any, int], dict[str, Any]]:
    """The trainer's evaluation callback: `(loaded model, update) -> {eval/<split>/<metric>: rate}`."""

    def evaluate_update(loaded, update: int) -> dict[str, Any]:
        return periodic_eval(loaded, env_config, update=update, out_dir=out_dir, episodes=episodes, seed=seed,
                             max_new_tokens=max_new_tokens, batch_size=batch_size)

    return evaluate_update


def periodic_eval(loaded, env_config: Mapping[str, Any], *, update: int, out_dir: Path, episodes: int, seed: int,
                  max_new_tokens: int, batch_size: int = 16) -> dict[str, Any]:
    """Evaluate `loaded` (whose model is the policy being trained) on the task's splits; returns
    `eval/<split>/<metric>` -> rate."""
    task = task_of_env_config(env_config)
    # The split's rule keys override the training env_config's (split_env_config); the rest carries over.
    jobs = [split_job(split, dict(env_config), num_traj=episodes, seed=seed)
            for split in parse_split_list(task, None) if not split.other_data]
    policy = LocalModelPolicy(loaded, max_new_tokens=max_new_tokens)
    settings = EvalSettings(batch_size=batch_size, label=f"update {update}")
    summary = evaluate(policy, jobs, settings, Path(out_dir) / f"update_{update:06d}", overwrite=True)
    results: dict[str, Any] = {}
    for split_name, split_summary in summary["splits"].items():
        for metric, value in split_summary["metrics"].items():
            results[metric_log_key(split_name, metric)] = value["rate"]
    return results
