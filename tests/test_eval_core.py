"""Splits, metrics, the resumable step log and the episode runner, with the oracle and garbage policies."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import envs  # noqa: F401  (registers the environments)
from evaluators.evaluation import EvalSettings, evaluate, split_job
from evaluators.metrics import Rate, binomial_stderr, compute_metrics
from evaluators.policies import GarbagePolicy, OraclePolicy, PolicyRequest
from evaluators.splits import (
    SPLITS,
    detect_split,
    episode_reset_kwargs,
    get_split,
    parse_split_list,
    split_env_config,
    split_names,
)
from evaluators.step_log import StepLog
from envs.general_points.adapter import matched_cards, read_cards
from envs.registry import make_adapter as adapter_for
from trainers.config import load_config
from trainers.config.schema import ExperimentConfig


def _run(policy_name: str, task: str, out: Path, num: int = 12, seed: int = 42, batch: int = 5):
    jobs = [split_job(split, None, num, seed) for split in parse_split_list(task, None)]
    policy = OraclePolicy(adapter_for(jobs[0].env_config)) if policy_name == "oracle" else GarbagePolicy()
    return evaluate(policy, jobs, EvalSettings(batch_size=batch), out)


# -- splits ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["gp/eval_gp_l_id", "gp/eval_gp_l_rule_ood", "gp/eval_gp_vl_id",
                                  "gp/eval_gp_vl_rule_ood", "gp/eval_gp_vl_visual_ood"])
def test_published_eval_configs_are_recognised_as_named_splits(name):
    config = load_config(ExperimentConfig, name)
    split = detect_split(config.env_config)
    expected = name.split("/")[1].removeprefix("eval_").replace("_", "-")  # gp-l-id, gp-vl-rule-ood ...
    assert split is not None and f"{split.task}-{split.name}" == expected
    assert split.num_traj == config.num_traj and split.seed == config.seed


def test_split_rule_keys_win_over_the_users_config_but_other_keys_are_kept():
    split = get_split("gp-l", "rule-ood")
    config = split_env_config(split, {"treat_face_cards_as_10": True, "verify_iter": 3, "target_points": 24})
    assert config["treat_face_cards_as_10"] is False and config["ood"] is True
    assert config["verify_iter"] == 3 and config["language_only"] is True


def test_unknown_split_and_task_errors_name_the_choices():
    with pytest.raises(ValueError, match="rule-ood"):
        parse_split_list("gp-l", "id,visual-ood")
    with pytest.raises(ValueError, match="gp-vl"):
        get_split("gp-xl", "id")


def test_episode_i_is_fixed_by_seed_and_index_only():
    split = SPLITS["gp-l/id"]
    assert episode_reset_kwargs(split, 42, 7) == episode_reset_kwargs(split, 42, 7)
    assert episode_reset_kwargs(split, 42, 7) != episode_reset_kwargs(split, 43, 7)
    assert episode_reset_kwargs(split, 42, 7) != episode_reset_kwargs(split, 42, 8)


def test_the_same_split_and_seed_give_the_same_hands_whatever_n(tmp_path):
    _run("garbage", "gp-l", tmp_path / "a", num=4)
    _run("garbage", "gp-l", tmp_path / "b", num=9, batch=2)
    hands = lambda d: [json.loads(l)["cards"] for l in (d / "rule-ood" / "steps.jsonl").read_text().splitlines()
                       if json.loads(l)["type"] == "episode"]
    assert hands(tmp_path / "b")[:4] == hands(tmp_path / "a")
    assert len(set(map(tuple, hands(tmp_path / "b")))) > 5
    assert all({"J", "Q", "K"} & {c[1:] for c in hand} for hand in hands(tmp_path / "b"))  # rule OOD forces a face card


# -- metrics -----------------------------------------------------------------------------------------
def test_binomial_standard_error():
    assert binomial_stderr(0.5, 100) == pytest.approx(0.05)
    assert Rate(3, 4).stderr == pytest.approx(math.sqrt(0.75 * 0.25 / 4))
    assert Rate(0, 0).rate is None


def test_step_accuracy_counts_retries_and_skips_unscored_steps():
    steps = [{"correct": False}, {"correct": True}, {"correct": False, "scored": False}]
    metrics = compute_metrics(steps, [{"success": True}, {"success": False}])
    assert metrics["step_accuracy"]["hits"] == 1 and metrics["step_accuracy"]["n"] == 2
    assert metrics["success"]["rate"] == 0.5


def test_card_reading_is_the_verifiers():
    # The published prompt's own layout, read as the verifier reads it (so recognition and reward agree).
    assert read_cards('"cards": [10, 10, 3, A], "formula": "x"') == ["10", "10", "3", "A"]
    assert read_cards('{"cards": ["HK", "2", "A", "10"]}') == ["HK", "2", "A", "10"]  # a suit is not a rank
    assert read_cards('{"cards": ["HK", "2", "ace", "10"]}', lenient=True) == ["K", "2", "A", "10"]
    assert read_cards("no json") is None
    assert matched_cards(["K", "K", "2"], ["K", "2", "3", "4"]) == 2


# -- policies end to end -----------------------------------------------------------------------------
@pytest.mark.parametrize("task", ["gp-l", "gp-vl"])
def test_oracle_succeeds_on_every_split(tmp_path, task):
    summary = _run("oracle", task, tmp_path, num=10 if task == "gp-l" else 4)
    assert set(summary["splits"]) == set(split_names(task))
    for split in summary["splits"].values():
        assert split["metrics"]["success"]["rate"] == 1.0
        assert split["metrics"]["step_accuracy"]["rate"] == 1.0
        if task == "gp-vl":
            assert split["metrics"]["recognition"]["rate"] == 1.0


@pytest.mark.parametrize("task", ["gp-l", "gp-vl"])
def test_garbage_fails_everything_and_every_trajectory_is_logged(tmp_path, task):
    num = 10 if task == "gp-l" else 3
    summary = _run("garbage", task, tmp_path, num=num)
    for name, split in summary["splits"].items():
        assert split["metrics"]["success"]["rate"] == 0.0
        records = [json.loads(line) for line in (tmp_path / name / "steps.jsonl").read_text().splitlines()]
        episodes = [r for r in records if r["type"] == "episode"]
        assert [e["episode"] for e in episodes] == list(range(num))
        assert all(e["truncated"] and not e["success"] for e in episodes)
        # verify_iter scored answers per episode, each logged with its verifier message
        scored = [r for r in records if r["type"] == "step" and r["scored"]]
        assert len(scored) == 5 * num and all(r["verify_info"] for r in scored)


def test_a_torn_last_line_is_cut_and_a_corrupt_middle_line_is_an_error(tmp_path):
    log = StepLog(tmp_path / "steps.jsonl")
    log.append([{"type": "step", "episode": 0, "step": 0}, {"type": "step", "episode": 0, "step": 1}])
    with open(log.path, "a") as handle:
        handle.write('{"type": "step", "epis')
    assert len(log.load()) == 2
    assert log.path.read_text().endswith("}\n")
    log.path.write_text('{"type": "step", "episode": 0, "step": 0}\nnot json\n{"type": "step", "episode": 0, "step": 2}\n')
    with pytest.raises(ValueError, match=":2: corrupt"):
        log.load()


def test_resumed_run_gives_the_same_files_and_never_asks_twice(tmp_path):
    full = tmp_path / "full"
    _run("garbage", "gp-l", full, num=8)

    class Crashing(GarbagePolicy):
        calls = 0

        def answer(self, requests):
            Crashing.calls += 1
            if Crashing.calls == 4:
                raise KeyboardInterrupt
            return super().answer(requests)

    part = tmp_path / "part"
    jobs = [split_job(get_split("gp-l", "id"), None, 8, 42)]
    with pytest.raises(KeyboardInterrupt):
        evaluate(Crashing(), jobs, EvalSettings(batch_size=5), part)
    logged = (part / "id" / "steps.jsonl").read_text().splitlines()
    assert 0 < len(logged)

    asked: list[tuple[int, int]] = []

    class Recording(GarbagePolicy):
        def answer(self, requests):
            asked.extend((r.episode, r.step) for r in requests)
            return super().answer(requests)

    evaluate(Recording(), jobs, EvalSettings(batch_size=5), part)
    already = {(json.loads(l)["episode"], json.loads(l)["step"]) for l in logged if json.loads(l)["type"] == "step"}
    assert not already & set(asked)
    for name in ("steps.jsonl", "summary.json", "run.json"):
        assert (part / "id" / name).read_bytes() == (full / "id" / name).read_bytes()


def test_a_folder_of_other_settings_is_refused(tmp_path):
    _run("garbage", "gp-l", tmp_path, num=2)
    with pytest.raises(ValueError, match="seed"):
        _run("garbage", "gp-l", tmp_path, num=2, seed=7)
    summary = _run("garbage", "gp-l", tmp_path, num=3)  # more episodes extend the run
    assert summary["splits"]["id"]["num_traj"] == 3
