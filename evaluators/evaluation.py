"""Evaluate one policy on named splits into an output folder: resumable logs, summaries, run identity.

Layout of an evaluation folder:

    OUT/run.json                 the last run: UTC start/finish, package versions, git commit, the command
                                 line (secrets masked), the resolved config (policy, settings, jobs)
    OUT/summary.json             every split's metrics (what `sftvsrl report` reads)
    OUT/results_<time>.json      the same metrics in lm-evaluation-harness's layout (`lm_eval_export`)
    OUT/<split>/run.json         what was evaluated (policy, seed, settings), checked on resume
    OUT/<split>/steps.jsonl      one record per model answer (`"type": "step"`: the exact prompt as `prompt`
                                 {messages, images by sha256}, the raw answer as `output`, reward, ...) and
                                 one per finished episode (`"type": "episode"`)
    OUT/<split>/summary.json     that split's metrics

Re-running into the same folder continues where it stopped. A folder written under different settings is
refused (so two runs never mix), except for the number of episodes: a larger `num_traj` extends a run.
Only OUT/run.json and OUT/results_*.json hold wall-clock times, so a resumed run's other files equal an
uninterrupted run's.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from envs.errors import DataFileError, InputError
from envs.registry import make_adapter
from envs.sft_records import atomic_write_text
from evaluators.metrics import compute_metrics
from evaluators.lm_eval_export import write_lm_eval_results
from evaluators.policies import Policy
from evaluators.provenance import provenance, utc_timestamp
from evaluators.runner import EpisodeSpec, run_episodes
from envs.registry import task_of_env_config
from envs.spec import Split
from evaluators.splits import count_routes, split_env_config
from evaluators.step_log import StepLog

FORMAT_VERSION = 1
STEPS_FILE = "steps.jsonl"
SUMMARY_FILE = "summary.json"
RUN_FILE = "run.json"


@dataclass
class EvalSettings:
    batch_size: int = 8
    enable_verification: bool = True
    template: str | None = None
    label: str | None = None


@dataclass
class SplitJob:
    """Episodes 0..num_traj-1 of a named split (or of a custom env_config, `split=None`) under `seed`."""

    name: str
    env_config: dict[str, Any]
    num_traj: int
    seed: int
    split: Split | None = None


def split_job(split: Split, user_env_config: Mapping[str, Any] | None = None, num_traj: int | None = None,
              seed: int | None = None, verify_iter: int | None = None,
              other_data: Mapping[str, Any] | None = None) -> SplitJob:
    """A job for a named split; size and seed default to the published evaluation's (an ordered split: every
    route of its file)."""
    env_config = split_env_config(split, user_env_config, other_data)
    if verify_iter is not None:
        env_config["verify_iter"] = verify_iter
    if num_traj is None:
        num_traj = count_routes(env_config) if split.ordered else split.num_traj
    elif split.ordered and num_traj > count_routes(env_config):
        raise InputError(f"split {split.key} plays routes in order; its route file has only "
                         f"{count_routes(env_config)} routes (asked for {num_traj})")
    return SplitJob(split.name, env_config, num_traj, split.seed if seed is None else seed, split)


def _write_json(path: Path, payload: Any) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def _check_identity(path: Path, identity: dict[str, Any], overwrite: bool) -> None:
    if path.exists() and not overwrite:
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            raise DataFileError(f"{path} is not valid JSON; move the folder away or pass --overwrite") from None
        for key in sorted(set(previous) | set(identity)):
            if key != "num_traj" and previous.get(key) != identity.get(key):
                raise InputError(
                    f"{path.parent} holds an evaluation with other settings ({key}: {previous.get(key)!r} there, "
                    f"{identity.get(key)!r} now); use another output folder or --overwrite"
                )
    _write_json(path, identity)


def evaluate_job(
    policy: Policy,
    job: SplitJob,
    settings: EvalSettings,
    out_dir: Path,
    overwrite: bool = False,
    on_episode: Callable[[dict[str, Any]], None] = lambda record: None,
) -> dict[str, Any]:
    """Evaluate `policy` on one split into `out_dir/<split>/`; return the split summary."""
    folder = Path(out_dir) / job.name
    folder.mkdir(parents=True, exist_ok=True)
    task = task_of_env_config(job.env_config)
    template_digest = hashlib.sha256(settings.template.encode()).hexdigest()[:16] if settings.template else None
    identity = {
        "format_version": FORMAT_VERSION,
        "task": task,
        "split": job.name,
        "env_config": job.env_config,
        "seed": job.seed,
        "num_traj": job.num_traj,
        "enable_verification": settings.enable_verification,
        "prompt_template_sha256": template_digest,
        "policy": policy.describe(),
    }
    log = StepLog(folder / STEPS_FILE)
    if overwrite:
        log.path.unlink(missing_ok=True)
    _check_identity(folder / RUN_FILE, identity, overwrite)
    spec = EpisodeSpec(job.split, f"{task}/{job.name}", job.env_config, job.seed,
                       settings.enable_verification, settings.template)
    adapter = make_adapter(job.env_config)
    run_episodes(policy, adapter, spec, job.num_traj, log, settings.batch_size, on_episode)
    records = log.canonicalize()
    summary = summarize(records, job.num_traj)
    summary.update({"task": task, "split": job.name, "seed": job.seed, "label": settings.label,
                    "verify_iter": job.env_config.get("verify_iter"), "policy": policy.describe(),
                    "primary_metric": job.split.primary_metric if job.split else "success"})
    _write_json(folder / SUMMARY_FILE, summary)
    return summary


def summarize(records: Sequence[Mapping[str, Any]], num_traj: int) -> dict[str, Any]:
    """Metrics over episodes 0..num_traj-1 of a log."""
    steps = [r for r in records if r.get("type") == "step" and int(r["episode"]) < num_traj]
    episodes = [r for r in records if r.get("type") == "episode" and int(r["episode"]) < num_traj]
    if len(episodes) != num_traj:
        raise RuntimeError(f"the log closes {len(episodes)} of {num_traj} episodes")
    return {
        "num_traj": num_traj,
        "num_steps": len(steps),
        "num_model_answers": sum(1 for s in steps if s.get("scored", True)),
        "metrics": compute_metrics(steps, episodes),
    }


def evaluate(
    policy: Policy,
    jobs: Sequence[SplitJob],
    settings: EvalSettings,
    out_dir: Path,
    overwrite: bool = False,
    on_episode: Callable[[str, dict[str, Any]], None] = lambda split, record: None,
) -> dict[str, Any]:
    """Evaluate on every job; writes `out_dir/summary.json` with all splits and returns it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    run = run_record(policy, jobs, settings)
    _write_json(out_dir / RUN_FILE, run)  # written first, so a failed run says what it was
    splits = _previous_splits(out_dir / SUMMARY_FILE, policy.describe())
    for job in jobs:
        splits[job.name] = evaluate_job(policy, job, settings, out_dir, overwrite,
                                        lambda record, name=job.name: on_episode(name, record))
    summary = {"label": settings.label, "policy": policy.describe(), "splits": splits}
    _write_json(out_dir / SUMMARY_FILE, summary)
    run["finished"] = utc_timestamp()
    _write_json(out_dir / RUN_FILE, run)
    write_lm_eval_results(out_dir, summary, run, FORMAT_VERSION)
    return summary


def run_record(policy: Policy, jobs: Sequence[SplitJob], settings: EvalSettings) -> dict[str, Any]:
    """OUT/run.json: when, with what code, from which command, under which resolved config."""
    template = hashlib.sha256(settings.template.encode()).hexdigest() if settings.template else None
    config = {
        "policy": policy.describe(),
        "settings": {"batch_size": settings.batch_size, "enable_verification": settings.enable_verification,
                     "label": settings.label, "prompt_template_sha256": template},
        "jobs": [{"name": job.name, "split": getattr(job.split, "key", None), "env_config": job.env_config,
                  "num_traj": job.num_traj, "seed": job.seed} for job in jobs],
    }
    return {"format_version": FORMAT_VERSION, "started": utc_timestamp(), "finished": None, **provenance(),
            "config": config}


def _previous_splits(path: Path, policy: dict[str, Any]) -> dict[str, Any]:
    """Splits an earlier run of the same policy wrote into this folder, kept in its summary."""
    try:
        previous = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if previous.get("policy") != policy:
        return {}
    return dict(previous.get("splits") or {})
