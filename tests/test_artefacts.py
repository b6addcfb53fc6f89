"""What an evaluation folder records: the run (times, versions, commit, command, config), exact prompts and
raw answers per step, typed step/episode records, and the lm-evaluation-harness export."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

import envs  # noqa: F401  (registers the environments)
from evaluators.evaluation import EvalSettings, evaluate, split_job
from evaluators.policies import GarbagePolicy
from evaluators.provenance import command_line
from evaluators.splits import parse_split_list

SECRET = "sk-live-SECRET-9d8c7b"


class Recording(GarbagePolicy):
    """Garbage answers; keeps every request it was given."""

    def __init__(self) -> None:
        self.requests = []

    def answer(self, requests):
        self.requests.extend(requests)
        return super().answer(requests)


def _evaluate(task: str, out: Path, num: int = 3, policy=None, splits: str | None = None):
    jobs = [split_job(split, None, num, 42) for split in parse_split_list(task, splits)]
    policy = policy or Recording()
    return policy, evaluate(policy, jobs, EvalSettings(batch_size=2, label="garbage"), out)


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_json_says_when_with_what_code_and_from_which_command(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/usr/bin/sftvsrl", "eval-api", "--api-key", SECRET, f"--API_KEY={SECRET}",
                                      "--base-url", f"https://user:{SECRET}@example.org/v1", "--num-traj", "3"])
    _evaluate("gp-l", tmp_path, splits="id")
    run = json.loads((tmp_path / "run.json").read_text())
    started, finished = (datetime.fromisoformat(run[key]) for key in ("started", "finished"))
    assert started.utcoffset().total_seconds() == 0 and started <= finished
    assert set(run["versions"]) == {"sftvsrl", "torch", "transformers"} and run["versions"]["torch"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parents[1],
                          capture_output=True, text=True)
    if head.returncode == 0:  # run from a checkout with a commit
        assert run["git_commit"] == head.stdout.strip() and re.fullmatch(r"[0-9a-f]{40}", run["git_commit"])
    else:
        assert "git_commit" not in run
    assert run["command"] == ["sftvsrl", "eval-api", "--api-key", "***", "--API_KEY=***", "--base-url",
                              "https://***@example.org/v1", "--num-traj", "3"]
    (job,) = run["config"]["jobs"]
    assert job["name"] == "id" and job["num_traj"] == 3 and job["seed"] == 42 and job["env_config"]["id"]
    assert run["config"]["policy"] == {"policy": "garbage"} or run["config"]["policy"]["policy"] == "garbage"
    assert run["config"]["settings"]["batch_size"] == 2
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path


def test_git_commit_is_left_out_outside_a_checkout(tmp_path, monkeypatch):
    from evaluators import provenance

    assert provenance.git_commit(tmp_path) is None
    monkeypatch.setattr(provenance, "git_commit", lambda: None)
    assert "git_commit" not in provenance.provenance([])


def test_command_line_scrubbing_keeps_ordinary_values():
    assert command_line(["x/sftvsrl", "eval-api", "--api-key-env", "MY_KEY", "--token", SECRET, "--model", "m"]) == \
        ["sftvsrl", "eval-api", "--api-key-env", "MY_KEY", "--token", "***", "--model", "m"]


def test_steps_hold_the_exact_prompt_and_raw_answer_and_are_typed(tmp_path):
    policy, _ = _evaluate("gp-l", tmp_path, splits="id")
    records = _records(tmp_path / "id" / "steps.jsonl")
    assert {r["type"] for r in records} == {"step", "episode"}
    steps = [r for r in records if r["type"] == "step" and r["scored"]]
    asked = {(r.episode, r.step): r for r in policy.requests}
    assert len(steps) == len(asked) > 0
    # a step the model did not answer (the environment's closing step) has no prompt
    assert all("prompt" not in r for r in records if r["type"] == "step" and not r["scored"])
    for step in steps:
        request = asked[(step["episode"], step["step"])]
        assert step["prompt"] == {"messages": request.messages, "images": []}
        assert step["output"] == GarbagePolicy().answer([request])[0]
    assert all("prompt" not in r for r in records if r["type"] == "episode")


def test_images_are_recorded_by_content_hash(tmp_path):
    policy, _ = _evaluate("gp-vl", tmp_path, num=2, splits="id")
    step = next(r for r in _records(tmp_path / "id" / "steps.jsonl") if r["type"] == "step")
    request = next(r for r in policy.requests if (r.episode, r.step) == (step["episode"], step["step"]))
    (image,) = request.images
    pixels = np.ascontiguousarray(np.asarray(image))
    assert step["prompt"]["images"] == [{"sha256": hashlib.sha256(pixels.tobytes()).hexdigest(),
                                         "shape": list(pixels.shape), "dtype": str(pixels.dtype)}]
    assert any(block.get("type") == "image" for m in step["prompt"]["messages"] if isinstance(m["content"], list)
               for block in m["content"])


def test_a_log_written_before_prompts_were_kept_still_resumes(tmp_path):
    _, full = _evaluate("gp-l", tmp_path / "full", num=4, splits="id")
    part = tmp_path / "part"
    _evaluate("gp-l", part, num=4, splits="id")
    old = [r for r in _records(part / "id" / "steps.jsonl") if not (r["type"] == "episode" and r["episode"] >= 2)]
    for record in old:
        record.pop("prompt", None)  # the layout before this release
    (part / "id" / "steps.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in old))
    _, resumed = _evaluate("gp-l", part, num=4, splits="id")
    assert resumed["splits"]["id"]["metrics"] == full["splits"]["id"]["metrics"]


def test_lm_eval_export_has_the_harness_layout(tmp_path):
    _, summary = _evaluate("gp-l", tmp_path, num=3)
    (path,) = tmp_path.glob("results_*.json")
    assert re.fullmatch(r"results_\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d+\.json", path.name)
    document = json.loads(path.read_text())
    assert {"results", "configs", "versions", "n-samples", "n-shot", "higher_is_better", "config",
            "git_hash", "date", "model_name"} <= set(document)
    for split, data in summary["splits"].items():
        task = f"gp-l_{split}"
        result = document["results"][task]
        success = data["metrics"]["success"]
        assert result["alias"] == task
        assert result["success,none"] == success["rate"] and result["success_stderr,none"] == success["stderr"]
        assert result["step_accuracy,none"] == data["metrics"]["step_accuracy"]["rate"]
        assert document["n-samples"][task] == {"original": 3, "effective": 3}
        assert document["configs"][task]["env_config"]["id"] and document["configs"][task]["seed"] == 42
        assert document["higher_is_better"][task]["success"] is True
    assert document["config"]["random_seed"] == 42 and document["config"]["model"] == "garbage"


@pytest.mark.parametrize("key", ["started", "finished"])
def test_a_failed_run_still_says_when_it_started(tmp_path, key):
    class Crashing(GarbagePolicy):
        def answer(self, requests):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _evaluate("gp-l", tmp_path, policy=Crashing(), splits="id")
    run = json.loads((tmp_path / "run.json").read_text())
    assert (run[key] is None) == (key == "finished")
