"""`sftvsrl gen-data --task virl-l`: synthetic cities and SFT data from route files, through the CLI."""

import json

from click.testing import CliRunner

from envs.answer_parsing import extract_fields
from envs.virl.actions import action_vocabulary
from sftvsrl_cli.main import cli

from _virl_city import small_city


def run(*args):
    result = CliRunner().invoke(cli, ["gen-data", *args])  # --routes / --city choose V-IRL
    return result


def test_city_command_writes_the_published_layout(tmp_path):
    result = run("--city", "clitown", "--num-routes", "3", "--pano-width", "64", "--seed", "2", "--style", "nordic",
                 "--out", str(tmp_path / "city"), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["routes"] == 3 and summary["style"] == "nordic" and summary["panoramas"] > 10
    assert (tmp_path / "city" / "route_infos.json").is_file() and (tmp_path / "city" / "gps_pano_mapping.pkl").is_file()


def test_sft_language_records_from_a_city_folder_are_reproducible(tmp_path):
    city = small_city()
    for name in ("a", "b"):
        result = run("--routes", str(city), "--task", "virl-l", "--num", "40", "--seed", "3", "--out", str(tmp_path / name))
        assert result.exit_code == 0, result.output
    data = (tmp_path / "a" / "data.json").read_bytes()
    assert data == (tmp_path / "b" / "data.json").read_bytes()
    records = json.loads(data)
    assert len(records) == 40
    vocabulary = set(action_vocabulary(True))
    for record in records:
        human, gpt = record["conversations"]
        assert "[Instruction]\n1. " in human["value"] and "image" not in record
        answer = extract_fields(gpt["value"], ["action", "current observation", "current instruction"])
        assert answer["action"] in vocabulary
        assert answer["current instruction"] in human["value"]
    assert sum("stop()" in r["conversations"][1]["value"] for r in records) >= 1


def test_sft_rule_ood_config_and_vision_records(tmp_path):
    city = small_city()
    result = run("-f", "virl/eval_virl_vl_rule_ood", "--routes", str(city), "--num", "5", "--resolution", "64",
                 "--format", "messages", "--out", str(tmp_path / "vl"), "--env_config.platform_cfg.STREET_VIEW.SIZE=[48,48]")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (tmp_path / "vl" / "data.jsonl").read_text().splitlines()]
    assert len(lines) == 5
    relative = set(action_vocabulary(False))
    for line in lines:
        assert (tmp_path / "vl" / line["images"][0]).is_file()
        assert line["messages"][0]["content"][0] == {"type": "image"}
        assert extract_fields(line["messages"][1]["content"][0]["text"], ["action"])["action"] in relative
    meta = json.loads((tmp_path / "vl" / "meta.json").read_text())
    assert meta["variant"] == "vl" and meta["env_config"]["absolute_action"] is False


def test_bad_route_file_is_a_one_line_error(tmp_path):
    bad = tmp_path / "route_infos.json"
    bad.write_text('[[{"start_place": {}}], 1]')
    result = run("--routes", str(bad), "--task", "virl-l", "--out", str(tmp_path / "o"),
                 "--env_config.relocation=false")
    assert result.exit_code == 2
    assert "route 0: start_place.relocated_geocode is missing" in result.output and "Traceback" not in result.output
