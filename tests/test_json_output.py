"""`--json`: stdout holds exactly one JSON document, on success and on failure, whatever libraries print."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from sftvsrl_cli.main import cli

REPO = Path(__file__).resolve().parents[1]


def sftvsrl(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The CLI in a fresh process, so import-time prints (DeepSpeed's) and file-descriptor writes happen."""
    return subprocess.run([sys.executable, "-m", "sftvsrl_cli", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=timeout, env={**os.environ, "HF_HUB_OFFLINE": "1"})


@pytest.fixture(scope="module")
def gp_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gp")
    assert CliRunner().invoke(cli, ["gen-data", "--num", "8", "--out", str(folder)]).exit_code == 0
    return folder


@pytest.mark.slow
def test_sft_json_is_the_only_thing_on_stdout(gp_data, tmp_path):
    result = sftvsrl("sft", "--data", str(gp_data), "--out", str(tmp_path), "--max-steps", "1", "--batch-size", "4",
                     "--json", "--seed", "1")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # fails if DeepSpeed's "Setting accelerator" line (or anything) is there
    assert summary["steps"] == 1 and Path(summary["final"], "config.json").is_file()


def test_a_failing_command_prints_one_json_error(tmp_path):
    result = sftvsrl("gen-data", "--target", "100000", "--num", "2", "--out", str(tmp_path), "--json")
    assert result.returncode == 2
    document = json.loads(result.stdout)
    assert document["exit_code"] == 2 and "100000" in document["error"]
    assert "Error: target_points 100000" in result.stderr


def test_a_usage_error_prints_one_json_error(tmp_path):
    result = CliRunner().invoke(cli, ["gen-data", "--num", "0", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout) == {"error": json.loads(result.stdout)["error"], "exit_code": 2}
    assert "--num" in json.loads(result.stdout)["error"]


_NOISY = """
import functools, os, sys
from sftvsrl_cli.commands import gen_data
original = gen_data.command.callback
@functools.wraps(original)
def noisy(*args, **kwargs):
    print("print() from a library")
    os.write(1, b"a C library writing to fd 1\\n")
    return original(*args, **kwargs)
gen_data.command.callback = noisy
from sftvsrl_cli.main import cli
sys.argv = ["sftvsrl", "gen-data", "--num", "2", "--out", sys.argv[1], "--json"]
cli()
"""


def test_prints_and_file_descriptor_writes_during_the_command_go_to_stderr(tmp_path):
    result = subprocess.run([sys.executable, "-c", _NOISY, str(tmp_path)], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["num"] == 2
    assert "a C library writing to fd 1" in result.stderr and "print() from a library" in result.stderr


def test_success_without_json_is_unchanged(tmp_path):
    result = CliRunner().invoke(cli, ["gen-data", "--num", "2", "--out", str(tmp_path)])
    assert result.exit_code == 0
    with pytest.raises(ValueError):
        json.loads(result.stdout)
