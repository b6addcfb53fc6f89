"""Options that contradict each other, or that this machine or model cannot honour, are refused with one line
naming them (exit 2) instead of being silently ignored."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sftvsrl_cli.main import cli
from tests.ppo_helpers import TINY_RUN


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_eval_reference_policy_with_a_model_is_refused(tmp_path):
    result = invoke("eval", "--policy", "oracle", "--model", "tiny-llama", "--num-traj", "1", "--out", str(tmp_path))
    assert result.exit_code == 2 and "--policy oracle" in result.output and "--model" in result.output


def test_download_list_with_a_name_is_refused():
    result = invoke("download", "--list", "gp-l-init")
    assert result.exit_code == 2 and "--list" in result.output and "NAME" in result.output


def test_ppo_offload_without_deepspeed_is_refused(tmp_path):
    result = invoke("ppo", "--model", "tiny-llama", "--offload-optimizer", "--out", str(tmp_path), *TINY_RUN)
    assert result.exit_code == 2 and "--offload-optimizer needs --deepspeed" in result.output


def test_ppo_resume_on_an_empty_folder_is_refused(tmp_path):
    result = invoke("ppo", "--model", "tiny-llama", "--resume", "--out", str(tmp_path / "empty"), *TINY_RUN)
    assert result.exit_code == 2 and "nothing to resume" in result.output and "--resume auto" in result.output


def test_mini_batch_larger_than_the_buffer_is_refused(tmp_path):
    result = invoke("ppo", "--model", "tiny-llama", "--out", str(tmp_path), *TINY_RUN,
                    "--ppo_config.mini_batch_size=64")
    assert result.exit_code == 2 and "mini_batch_size" in result.output and "num_steps" in result.output


@pytest.mark.slow
def test_text_model_on_an_image_task_is_refused(tmp_path):
    result = invoke("ppo", "--task", "gp-vl", "--model", "tiny-llama", "--out", str(tmp_path), *TINY_RUN)
    assert result.exit_code == 2 and "reads text only" in result.output


@pytest.mark.parametrize("device", ["cuda:7", "nonsense"])
def test_eval_on_a_device_this_machine_lacks_is_refused(tmp_path, device):
    result = invoke("eval", "--model", "tiny-llama", "--device", device, "--num-traj", "1", "--out", str(tmp_path))
    assert result.exit_code == 2 and f"--device {device}" in result.output.replace("'", "")
