"""`sftvsrl gen-data --task gp-l`: layouts, correctness of expert answers, determinism, errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import gymnasium as gym
import pytest

import envs  # noqa: F401
from sftvsrl_cli.main import cli


def run(runner, *args):
    result = runner.invoke(cli, ["gen-data", "--task", "gp-l", *args])
    assert result.exit_code == 0, result.output
    return result


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_llava_layout_and_every_expert_answer_is_correct(runner, tmp_path):
    run(runner, "--num", "30", "--seed", "4", "--out", str(tmp_path))
    records = json.loads((tmp_path / "data.json").read_text())
    assert len(records) == 30
    env = gym.make("gym_cards/GeneralPoint-oneline-v0").unwrapped
    for record in records:
        human, gpt = record["conversations"]
        assert (human["from"], gpt["from"]) == ("human", "gpt") and "image" not in record
        cards = json.loads(gpt["value"])["cards"]
        assert f"Cards: {[str(c) for c in cards]}" in human["value"]
        env.reset(options={"cards": cards})
        assert env.step(gpt["value"])[1] == 5.0


def test_vision_records_point_at_their_images(runner, tmp_path):
    run(runner, "--task", "gp-vl", "--num", "3", "--resolution", "128", "--color", "red", "--out", str(tmp_path))
    records = json.loads((tmp_path / "data.json").read_text())
    for record in records:
        assert (tmp_path / record["image"]).is_file()
        assert record["conversations"][0]["value"].startswith("<image>\n")


def test_messages_layout(runner, tmp_path):
    run(runner, "--task", "gp-vl", "--format", "messages", "--num", "2", "--resolution", "96", "--out", str(tmp_path))
    lines = (tmp_path / "data.jsonl").read_text().splitlines()
    record = json.loads(lines[0])
    assert [m["role"] for m in record["messages"]] == ["user", "assistant"]
    assert record["messages"][0]["content"][0] == {"type": "image"}
    assert (tmp_path / record["images"][0]).is_file()


@pytest.mark.parametrize("variant", ["l", "vl"])
def test_same_seed_same_bytes(runner, tmp_path, variant):
    args = ["--task", f"gp-{variant}", "--num", "4", "--resolution", "96", "--seed", "9"]
    run(runner, *args, "--out", str(tmp_path / "a"))
    run(runner, *args, "--out", str(tmp_path / "b"))
    run(runner, *args[:-1], "10", "--out", str(tmp_path / "c"))
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_ood_sets_use_the_ordinal_rule_and_face_cards(runner, tmp_path):
    run(runner, "--ood", "--num", "20", "--out", str(tmp_path))
    for record in json.loads((tmp_path / "data.json").read_text()):
        answer = json.loads(record["conversations"][1]["value"])
        assert any(c in ("J", "Q", "K") for c in answer["cards"])
        assert any(n > 10 for n in answer["number"])
        assert "'11', '12', and '13'" in record["conversations"][0]["value"]


def test_multi_turn_records_show_failed_attempts_then_the_fix(runner, tmp_path):
    run(runner, "--multi-turn", "--num", "10", "--out", str(tmp_path))
    env = gym.make("gym_cards/GeneralPoint-oneline-v0").unwrapped
    for record in json.loads((tmp_path / "data.json").read_text()):
        turns = record["conversations"]
        assert len(turns) in (4, 6) and turns[-1]["from"] == "gpt"
        cards = json.loads(turns[-1]["value"])["cards"]
        env.reset(options={"cards": cards})
        for attempt, feedback in zip(turns[1:-1:2], turns[2:-1:2]):
            _, reward, _, _, info = env.step(attempt["value"])
            assert reward == -1.0
            assert feedback["value"].startswith(f"You failed this trial because {info['Verify Info']}")
        assert env.step(turns[-1]["value"])[1] == 5.0


def test_prompt_template_file(runner, tmp_path):
    template = tmp_path / "t.txt"
    template.write_text("Make {target_points} from {cards}. Rule: {face_card_rule}. Answer as {\"formula\": ...}")
    run(runner, "--num", "1", "--target", "10", "--prompt-template", str(template), "--out", str(tmp_path / "d"))
    prompt = json.loads((tmp_path / "d" / "data.json").read_text())[0]["conversations"][0]["value"]
    assert prompt.startswith("Make 10 from ['") and '{"formula": ...}' in prompt


def test_json_summary_only_on_stdout(runner, tmp_path):
    result = run(runner, "--num", "2", "--json", "--out", str(tmp_path))
    summary = json.loads(result.stdout)
    assert summary["num"] == 2 and summary["path"].endswith("data.json")


@pytest.mark.parametrize(
    "args, message",
    [
        (["--env_config.taget_points=3"], "did you mean 'target_points'?"),
        (["-f", "gp/nope"], "config file not found"),
    ],
)
def test_errors_are_one_line_with_exit_2(runner, tmp_path, args, message):
    result = runner.invoke(cli, ["gen-data", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.strip().count("\n") == 0


def test_bad_template_variable_is_reported(runner, tmp_path):
    template = tmp_path / "t.txt"
    template.write_text("Cards {hand}")
    result = runner.invoke(cli, ["gen-data", "--prompt-template", str(template), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "unknown variable(s) hand" in result.output


def test_wider_failed_attempts_include_wrong_numbers():
    """The PPO init's records: up to verify_iter - 1 failed attempts, some with numbers not in the hand."""
    from envs.general_points.config import GeneralPointsConfig
    from envs.general_points.sft_data import GPDataSpec, generate_records

    spec = GPDataSpec(num=40, seed=3, env=GeneralPointsConfig(verify_iter=5), multi_turn=True,
                      max_wrong_attempts=4, wrong_number_share=0.5)
    env = gym.make("gym_cards/GeneralPoint-oneline-v0").unwrapped
    attempts_per_record, rewards_seen = set(), []
    for record in generate_records(spec, None):
        turns = [text for _, text in record.turns]
        attempts_per_record.add((len(turns) - 2) // 2)
        env.reset(options={"cards": json.loads(turns[-1])["cards"]})
        for attempt, feedback in zip(turns[1:-1:2], turns[2:-1:2]):
            _, reward, _, _, info = env.step(attempt)
            rewards_seen.append(reward)
            assert feedback.startswith(f"You failed this trial because {info['Verify Info']}")
        assert env.step(turns[-1])[1] == 5.0
    assert attempts_per_record == {1, 2, 3, 4}
    # one number replaced: -2 for the wrong (or overused) number plus -2 for the unused one, as published
    assert {-1.0, -4.0} <= set(rewards_seen) <= {-1.0, -4.0}
    assert 0.3 < rewards_seen.count(-4.0) / len(rewards_seen) < 0.7
