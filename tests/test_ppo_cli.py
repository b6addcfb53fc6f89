"""`sftvsrl ppo` end to end with a tiny budget, its periodic evaluation, and its one-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from sftvsrl_cli.main import cli
from tests.ppo_helpers import TINY_RUN
from trainers.ppo.checkpoint import latest_checkpoint
from trainers.ppo.run_log import read_log

LOG_KEYS = {"update", "total_env_steps", "episodes", "success_rate", "episode_reward_mean", "episode_reward_std",
            "value_loss", "policy_loss", "approx_kl", "clip_fraction", "learning_rate", "compute_flops",
            "recognition_accuracy", "wall_time", "success_rate_estimate", "first_attempt_accuracy"}


def test_help_lists_options():
    result = CliRunner().invoke(cli, ["ppo", "--help"])
    assert result.exit_code == 0
    for option in ("--task", "--out", "--overwrite", "--model", "--eval-every", "--deepspeed", "--resume", "--seed"):
        assert option in result.output


def test_tiny_run_with_periodic_eval(tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["ppo", "--model", "tiny-llama", "--out", str(out), "--eval-every", "1",
                                      "--eval-episodes", "2", "--json", *TINY_RUN, "--num_updates=1"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["update"] == 1 and summary["model"] == "tiny-llama"
    (record,) = read_log(out / "log.jsonl")
    assert LOG_KEYS <= set(record)
    assert record["total_env_steps"] == 4 and record["compute_flops"] > 0
    assert 0.0 <= record["eval/id/success"] <= 1.0 and 0.0 <= record["eval/rule-ood/success"] <= 1.0
    assert (out / "evals" / "update_000001" / "summary.json").is_file()
    assert (out / "config.yaml").is_file()
    checkpoint = latest_checkpoint(out)
    assert (checkpoint / "policy" / "config.json").is_file() and (checkpoint / "value_head.pt").is_file()

    from trainers.models.loader import load_model

    assert load_model(str(checkpoint / "policy")).model is not None  # HF layout, loadable


@pytest.mark.parametrize("args, message", [
    (["--num_steps=5", "--num_envs=2"], "must be a multiple of 'num_envs'"),
    (["--ppo_config.clip_parm=0.2"], "did you mean 'clip_param'"),
    (["--report_to=mlflow"], "'report_to' must be one of"),
    (["--ppo_config.ratio_normalization=token"], "'ppo_config.ratio_normalization' must be one of none, length"),
    (["--grad_accum_steps=3", "--num_steps=8", "--num_envs=2", "--ppo_config.mini_batch_size=2"],
     "'grad_accum_steps' (3) must divide"),
])
def test_bad_settings_are_one_line_errors(tmp_path, args, message):
    result = CliRunner().invoke(cli, ["ppo", "--model", "tiny-llama", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_tiny_vl_run_reads_images_and_logs_recognition(tmp_path):
    out = tmp_path / "vl"
    result = CliRunner().invoke(cli, ["ppo", "--task", "gp-vl", "--model", "tiny-mllama", "--out", str(out),
                                      "--eval-every", "1", "--eval-episodes", "1", *TINY_RUN, "--num_updates=1",
                                      "--env_config.resolution=224"])
    assert result.exit_code == 0, result.output
    (record,) = read_log(out / "log.jsonl")
    assert 0.0 <= record["recognition_accuracy"] <= 1.0
    assert {"eval/id/recognition", "eval/rule-ood/success", "eval/visual-ood/success"} <= set(record)
    assert record["tokens_train"] > 0 and record["compute_flops"] > 0


def test_virl_l_run_on_a_synthetic_city(tmp_path):
    city = tmp_path / "city"
    made = CliRunner().invoke(cli, ["gen-data", "--task", "virl-l", "--city", "ppotown", "--num-routes", "3",
                                    "--pano-width", "64", "--seed", "3", "--out", str(city)])
    assert made.exit_code == 0, made.output
    out = tmp_path / "virl"
    result = CliRunner().invoke(cli, [
        "ppo", "--task", "virl-l", "--model", "tiny-llama", "--out", str(out),
        *[a for a in TINY_RUN if "verify_iter" not in a], "--num_updates=1",
        f"--env_config.route_info_path={city / 'route_infos.json'}",
        f"--env_config.platform_cfg.OFFLINE.PANORAMA_DIR={city / 'street_views'}",
        f"--env_config.platform_cfg.OFFLINE.GPS_TO_PANO_PATH={city / 'gps_pano_mapping.pkl'}"])
    assert result.exit_code == 0, result.output
    (record,) = read_log(out / "log.jsonl")
    assert record["total_env_steps"] == 4 and record["episode_reward_mean"] is not None


def test_virl_without_model_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["ppo", "--task", "virl-l", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--task virl-l needs --model" in result.output


def test_custom_prompt_template_and_unknown_model(tmp_path):
    template = tmp_path / "template.txt"
    template.write_text('Cards {cards}. Make {target_points}. Answer as {"formula": "..."}\n', encoding="utf-8")
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["ppo", "--model", "tiny-llama", "--out", str(out), *TINY_RUN,
                                      "--num_updates=1", f"--prompt_config.template_path={template}"])
    assert result.exit_code == 0, result.output
    assert read_log(out / "log.jsonl")[0]["total_env_steps"] == 4

    bad = tmp_path / "bad.txt"
    bad.write_text("Cards {hand}", encoding="utf-8")
    result = CliRunner().invoke(cli, ["ppo", "--model", "tiny-llama", "--out", str(tmp_path / "bad"),
                                      *TINY_RUN, f"--prompt_config.template_path={bad}"])
    assert result.exit_code == 2 and "hand" in result.output

    result = CliRunner().invoke(cli, ["ppo", "--model", str(tmp_path / "no-such-model"), "--out",
                                      str(tmp_path / "x"), *TINY_RUN])
    assert result.exit_code == 2 and "model folder not found" in result.output
