"""V-IRL evaluation on small synthetic cities: splits, oracle/garbage acceptance, resumption mid-route."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import envs  # noqa: F401
from evaluators.evaluation import EvalSettings, evaluate, split_job
from evaluators.policies import GarbagePolicy, OraclePolicy
from evaluators.splits import city_env_config, get_split, parse_split_list
from envs.registry import make_adapter as adapter_for


@pytest.fixture(scope="module")
def cities(tmp_path_factory) -> tuple[Path, Path]:
    from envs.virl.synthetic import CitySpec, generate_city

    root = tmp_path_factory.mktemp("cities")
    generate_city(CitySpec("train", num_routes=4, seed=0, pano_width=256), root / "train")
    generate_city(CitySpec("other", num_routes=2, style="mediterranean", seed=1, pano_width=256), root / "other")
    return root / "train", root / "other"


def _small(data: dict) -> dict:
    data["platform_cfg"]["STREET_VIEW"] = {"SIZE": [32, 32]}  # small views keep the VL tests fast
    return data


def _jobs(task, cities, num=3):
    user = {**_small(city_env_config(cities[0])), "resolution": 32}
    return [split_job(split, user, None if split.ordered else num, None, other_data=_small(city_env_config(cities[1])))
            for split in parse_split_list(task, None)]


@pytest.mark.parametrize("task", ["virl-l", "virl-vl"])
def test_oracle_is_always_right_and_garbage_always_wrong(tmp_path, cities, task):
    jobs = _jobs(task, cities)
    assert [job.name for job in jobs] == (["id", "rule-ood"] if task == "virl-l" else ["id", "rule-ood", "visual-ood"])
    oracle = evaluate(OraclePolicy(adapter_for(jobs[0].env_config)), jobs, EvalSettings(batch_size=2), tmp_path / "o")
    for split in oracle["splits"].values():
        assert split["metrics"]["step_accuracy"]["rate"] == 1.0 and split["metrics"]["step_accuracy"]["n"] > split["num_traj"]
        assert split["metrics"]["success"]["rate"] == 1.0
    garbage = evaluate(GarbagePolicy(), jobs, EvalSettings(batch_size=2), tmp_path / "g")
    for name, split in garbage["splits"].items():
        assert split["metrics"]["step_accuracy"]["rate"] == 0.0 and split["metrics"]["success"]["rate"] == 0.0
        records = [json.loads(line) for line in (tmp_path / "g" / name / "steps.jsonl").read_text().splitlines()]
        episodes = [r for r in records if r["type"] == "episode"]
        assert [e["episode"] for e in episodes] == list(range(split["num_traj"])) and all(e["truncated"] for e in episodes)
        assert sum(1 for r in records if r["type"] == "step" and r["scored"]) == 2 * split["num_traj"]  # verify_iter 2


def test_visual_ood_plays_the_other_citys_routes_in_order(tmp_path, cities):
    job = _jobs("virl-vl", cities)[-1]
    assert job.num_traj == 2 and job.env_config["route_info_path"].startswith(str(cities[1]))
    evaluate(GarbagePolicy(), [job], EvalSettings(), tmp_path)
    episodes = [json.loads(l) for l in (tmp_path / "visual-ood" / "steps.jsonl").read_text().splitlines()]
    assert [e["route_idx"] for e in episodes if e["type"] == "episode"] == [0, 1]
    with pytest.raises(ValueError, match="visual-ood-routes"):
        split_job(get_split("virl-vl", "visual-ood"), city_env_config(cities[0]))


def test_rule_ood_asks_for_relative_actions(tmp_path, cities):
    job = _jobs("virl-l", cities)[1]
    evaluate(OraclePolicy(adapter_for(job.env_config)), [job], EvalSettings(), tmp_path)
    actions = {json.loads(l).get("expert_action") for l in (tmp_path / "rule-ood" / "steps.jsonl").read_text().splitlines()}
    turns = {a for a in actions if a and a.startswith("turn_direction")}
    assert turns and all(any(w in a for w in ("left", "right")) for a in turns)


def test_resume_mid_route_replays_logged_answers(tmp_path, cities):
    job = _jobs("virl-l", cities, num=4)[0]
    adapter = adapter_for(job.env_config)
    evaluate(OraclePolicy(adapter), [job], EvalSettings(batch_size=2), tmp_path / "full")

    class Crashing(OraclePolicy):
        rounds = 0

        def answer(self, requests):
            Crashing.rounds += 1
            if Crashing.rounds == 5:
                raise KeyboardInterrupt
            return super().answer(requests)

    with pytest.raises(KeyboardInterrupt):
        evaluate(Crashing(adapter), [job], EvalSettings(batch_size=2), tmp_path / "part")
    evaluate(OraclePolicy(adapter), [job], EvalSettings(batch_size=2), tmp_path / "part")
    for name in ("steps.jsonl", "summary.json"):
        assert (tmp_path / "part" / "id" / name).read_bytes() == (tmp_path / "full" / "id" / name).read_bytes()
