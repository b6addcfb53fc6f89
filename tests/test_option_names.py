"""One set of option names across commands; old spellings still work for one release, with a warning; output
folders holding a run are never overwritten without --overwrite."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sftvsrl_cli.aliases import translate
from sftvsrl_cli.main import cli
from sftvsrl_cli.run_folder import OutputFolderInUse, claim_output_dir


@pytest.fixture
def runner():
    return CliRunner()


def test_old_spellings_are_rewritten_with_one_warning_each():
    warnings = []
    args = translate(["--env", "virl", "--variant=vl", "--output-dir", "runs/x", "--output_dir=keep"],
                     {"--task", "--out"}, warnings.append)
    assert args == ["--task", "virl-vl", "--out", "runs/x", "--output_dir=keep"]
    assert len(warnings) == 2 and "--output-dir is deprecated; use --out" in warnings[0]
    assert "use --task virl-vl" in warnings[1]


def test_renames_apply_only_to_commands_that_have_the_new_name():
    assert translate(["--max-tokens", "9"], {"--out"}, print) == ["--max-tokens", "9"]
    assert translate(["--max-tokens=9"], {"--max-new-tokens"}, lambda m: None) == ["--max-new-tokens=9"]


def test_task_and_env_together_are_refused(runner, tmp_path):
    result = runner.invoke(cli, ["gen-data", "--task", "gp-l", "--env", "gp", "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "--task and --env/--variant" in result.output


def test_gen_data_old_and_new_spellings_write_the_same_bytes(runner, tmp_path):
    new = runner.invoke(cli, ["gen-data", "--task", "gp-l", "--num", "5", "--out", str(tmp_path / "new")])
    old = runner.invoke(cli, ["gen-data", "--env", "gp", "--variant", "l", "--num", "5", "--out", str(tmp_path / "old")])
    assert new.exit_code == 0 and old.exit_code == 0, old.output
    assert "deprecated" in old.output and "deprecated" not in new.output
    assert (tmp_path / "new" / "data.json").read_bytes() == (tmp_path / "old" / "data.json").read_bytes()


def test_gen_data_refuses_to_overwrite_without_the_flag(runner, tmp_path):
    out = tmp_path / "o"
    assert runner.invoke(cli, ["gen-data", "--num", "3", "--out", str(out), "--seed", "1"]).exit_code == 0
    before = (out / "data.json").read_bytes()
    again = runner.invoke(cli, ["gen-data", "--num", "3", "--out", str(out), "--seed", "2"])
    assert again.exit_code == 2 and "already holds a gen-data run" in again.output and "--overwrite" in again.output
    assert (out / "data.json").read_bytes() == before
    forced = runner.invoke(cli, ["gen-data", "--num", "3", "--out", str(out), "--seed", "2", "--overwrite"])
    assert forced.exit_code == 0 and (out / "data.json").read_bytes() != before


@pytest.mark.parametrize("args, names", [
    (["--task", "gp-l", "--city", "x"], "--city"),
    (["--task", "gp-l", "--routes", "."], "--routes"),
    (["--task", "virl-l", "--ood"], "--ood"),
    (["--city", "x", "--routes", "."], "--city"),
])
def test_gen_data_conflicting_options_are_named(runner, tmp_path, args, names):
    result = runner.invoke(cli, ["gen-data", *args, "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and names in result.output
    assert not (tmp_path / "o").exists()


def test_claim_output_dir_rules(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.jsonl").write_text(json.dumps({"update": 1}) + "\n")
    with pytest.raises(OutputFolderInUse, match="--resume"):
        claim_output_dir(run, "ppo")
    assert claim_output_dir(run, "ppo", resume=True) == run and (run / "log.jsonl").exists()
    claim_output_dir(run, "ppo", overwrite=True)
    assert not run.exists()
    with pytest.raises(ValueError, match="contradict"):
        claim_output_dir(run, "ppo", resume=True, overwrite=True)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert claim_output_dir(other, "sft") == other  # a folder without a run is fine


def test_help_shows_only_unified_names(runner):
    for command, present, absent in [("ppo", "--out", "--output-dir"), ("download", "--out", "--local-dir"),
                                     ("eval-api", "--max-new-tokens", "--max-tokens"), ("gen-data", "--task", "--env")]:
        text = runner.invoke(cli, [command, "--help"]).output
        assert present in text and absent not in text, command
