"""Evaluation during PPO training (`--eval-every K`): the current policy on the task's ID and OOD splits.

Uses the named splits of `evaluators.splits` and the episode runner of `evaluators.evaluation`, so the
numbers are the ones `sftvsrl eval` reports, on the same fixed episodes (split + seed + N) at every
evaluation. Decoding is greedy, so an evaluation is a deterministic function of the weights. Results land in
`<output_dir>/evals/update_<N>/` and as `eval/<split>/<metric>` keys in the training log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from evaluators.evaluation import EvalSettings, evaluate, split_job
from evaluators.policies import PolicyRequest
from evaluators.splits import metric_log_key, parse_split_list, task_of_env_config


class TrainingPolicy:
    """The policy being trained, answering evaluation requests with greedy batched generation."""

    name = "ppo-policy"

    def __init__(self, loaded, model, max_new_tokens: int, update: int):
        self.loaded, self.model = loaded, model
        self.max_new_tokens, self.update = max_new_tokens, update

    def describe(self) -> dict[str, Any]:
        return {"policy": self.name, "model": self.loaded.name, "update": self.update, "decoding": "greedy",
                "max_new_tokens": self.max_new_tokens}

    def answer(self, requests: Sequence[PolicyRequest]) -> list[str]:
        from trainers.models.generation import generate_batch

        backbone_holder = self.loaded.model
        self.loaded.model = self.model
        try:
            return generate_batch(self.loaded, [r.messages for r in requests],
                                  [r.images if self.loaded.is_vision else [] for r in requests],
                                  max_new_tokens=self.max_new_tokens, temperature=0.0, do_sample=False)
        finally:
            self.loaded.model = backbone_holder


def periodic_eval(loaded, model, env_config: Mapping[str, Any], *, update: int, out_dir: Path, episodes: int,
                  seed: int, max_new_tokens: int, batch_size: int = 16) -> dict[str, Any]:
    """Evaluate on every split of the training task; returns `eval/<split>/<metric>` -> rate."""
    task = task_of_env_config(env_config)
    # The split's rule keys override the training env_config's (split_env_config), the rest carries over.
    jobs = [split_job(split, dict(env_config)) for split in parse_split_list(task, None)]
    settings = EvalSettings(seed=seed, num_traj=episodes, batch_size=batch_size, label=f"update {update}")
    policy = TrainingPolicy(loaded, model, max_new_tokens, update)
    summary = evaluate(policy, jobs, settings, Path(out_dir) / f"update_{update:06d}", overwrite=True)
    results: dict[str, Any] = {}
    for split_name, split_summary in summary["splits"].items():
        for metric, value in split_summary["metrics"].items():
            results[metric_log_key(split_name, metric)] = value["rate"]
    return results
