"""Progress where no one watches live (cron, Slurm, nohup): timestamped plain lines, stages, retry lines."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from evaluators.loopback_server import LoopbackServer
from fake_hub import FakeHub
from test_download import hub_env  # noqa: F401  (a fixture: HF_HOME in tmp, no token, a loopback hub)
from sftvsrl_cli.console import Output, format_cell
from sftvsrl_cli.main import cli
from sftvsrl_cli.plain_progress import RetryLog, format_duration

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
KEY = "sk-cron-DO-NOT-LEAK-77e1"
CAUSE_OF_FAULT = {"429": "HTTP 429", "500": "HTTP 500", "503": "HTTP 503", "stall": "timeout", "drop": "connection",
                  "html": "malformed body", "truncated": "malformed body", "no-choices": "malformed body"}


def _output(terminal: bool = False, quiet: bool = False) -> tuple[Output, io.StringIO]:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, soft_wrap=True, width=120)
    return Output(quiet=quiet, stderr=console, stdout=Console(file=io.StringIO())), buffer


@pytest.fixture
def fast_ticks(monkeypatch):
    monkeypatch.setenv("SFTVSRL_PROGRESS_INTERVAL", "0.05")


def test_plain_progress_prints_timestamped_start_heartbeats_and_end(fast_ticks):
    output, buffer = _output()
    with output.progress("episodes", total=10) as bar:
        bar.advance(1)
        bar.advance(2)
        time.sleep(0.3)  # nothing advances: the heartbeat still reports
        bar.advance(7)
    lines = buffer.getvalue().splitlines()
    assert all(re.match(STAMP + " ", line) for line in lines), lines
    assert lines[0].endswith("start episodes (10 to do)")
    heartbeats = [line for line in lines if " episodes 3/10 (30%)" in line]
    assert len(heartbeats) >= 2, lines  # every 0.05 s while blocked
    assert re.search(r"/s eta \S+ elapsed", heartbeats[-1]), heartbeats[-1]
    assert re.search(r"done episodes 10/10 in \d+s$", lines[-1])


def test_a_resumed_start_is_not_part_of_the_rate(fast_ticks):
    output, buffer = _output()
    with output.progress("sft", total=1000) as bar:
        bar.advance(900)  # steps done before a resume
        time.sleep(0.12)
        bar.advance(1)
        time.sleep(0.12)
    rates = [float(m) for m in re.findall(r" ([\d.e+]+)/s ", buffer.getvalue())]
    assert rates and max(rates) < 100, buffer.getvalue()


def test_stage_shows_a_silent_step_and_a_failed_one(fast_ticks):
    output, buffer = _output()
    with output.stage("building tiny-mllama"):
        time.sleep(0.2)
    with pytest.raises(KeyError):
        with output.stage("SFT-initialising tiny-llama"):
            raise KeyError("x")
    text = buffer.getvalue()
    assert "start building tiny-mllama" in text and "building tiny-mllama elapsed" in text
    assert "done building tiny-mllama in" in text
    assert re.search(r"stopped SFT-initialising tiny-llama after \d+s \(KeyError\)", text)


def test_interval_defaults_to_30_seconds_and_quiet_prints_nothing(monkeypatch):
    monkeypatch.delenv("SFTVSRL_PROGRESS_INTERVAL", raising=False)
    output, buffer = _output()
    with output.progress("episodes", total=2) as bar:
        bar.advance(2)
    assert len(buffer.getvalue().splitlines()) == 2  # start and end only: no 30 s passed
    quiet, quiet_buffer = _output(quiet=True)
    with quiet.progress("episodes", total=2) as bar, quiet.stage("building"):
        bar.advance(2)
    assert quiet_buffer.getvalue() == ""


def test_only_rank_0_reports_progress_under_a_launcher(fast_ticks, monkeypatch):
    monkeypatch.setenv("RANK", "3")
    output, buffer = _output()
    with output.progress("ppo", total=None) as bar, output.stage("building tiny-llama"):
        bar.advance()
        time.sleep(0.15)
    assert buffer.getvalue() == ""
    monkeypatch.setenv("RANK", "0")
    with output.progress("ppo", total=1) as bar:
        bar.advance()
    assert "done ppo 1/1" in buffer.getvalue()


def test_terminal_gets_rich_bars_and_nested_stages_share_the_display():
    output, buffer = _output(terminal=True)
    with output.progress("episodes", total=4) as bar:
        with output.stage("building tiny-llama"):
            bar.advance(4)
    text = buffer.getvalue()
    assert "episodes" in text and "4/4" in text and "building tiny-llama" in text
    assert not re.search(STAMP, text)


def test_retry_lines_are_rate_limited_per_cause_with_counts():
    now = [0.0]
    lines: list[str] = []
    log = RetryLog(lines.append, every=10.0, clock=lambda: now[0])
    for _ in range(5):
        log("timeout", "the request timed out", 1.0)
        now[0] += 1.0
    log("HTTP 503", "HTTP 503: busy")
    assert len(lines) == 2 and lines[0].startswith("retry (timeout) x1") and "retry (HTTP 503) x1" in lines[1]
    now[0] = 12.0
    log("timeout", "the request timed out")
    assert lines[-1].startswith("retry (timeout) x5 since last report, 6 in all")
    log("timeout")
    log.flush()
    assert lines[-1] == "retry (timeout) x1 since last report, 7 in all" and log.total == 8


def test_eval_api_under_cron_logs_progress_retries_and_their_causes(monkeypatch, tmp_path):
    monkeypatch.setenv("SFTVSRL_PROGRESS_INTERVAL", "0.2")
    with LoopbackServer(faults=True, stall_seconds=1.0) as server:
        result = CliRunner().invoke(cli, ["eval-api", "--base-url", server.base_url, "--model", "scripted",
                                          "--out", str(tmp_path), "--timeout", "0.5", "--retry-base-delay", "0.01",
                                          "--split", "id", "--num-traj", "8", "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    stderr = result.stderr
    assert re.search(STAMP + r" start episodes \(8 to do\)", stderr)
    assert re.search(STAMP + r" done episodes 8/8 in", stderr)
    causes = set(re.findall(r"retry \(([^)]+)\) x\d+", stderr))
    served = {CAUSE_OF_FAULT[fault] for fault in server.faults_served}
    assert causes == served and len(causes) >= 3, (served, stderr)  # each fault the server injected, by name
    logged = sum(int(n) for n in re.findall(r"retry \([^)]+\) x(\d+)", stderr))
    assert logged == summary["retries"] > 0  # every retry is counted in a line (flushed at the end)


@pytest.mark.parametrize("args", [
    ["gen-data", "--env", "gp", "--num", "5"],
    ["eval", "--policy", "garbage", "--num-traj", "3", "--split", "id"],
    ["recog", "--policy", "oracle", "--num-traj", "2"],
])
def test_commands_show_plain_progress_when_stderr_is_a_file(tmp_path, args):
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert re.search(STAMP + r" start .+ to do\)", result.stderr), result.stderr
    assert re.search(STAMP + r" done .+ in \d+", result.stderr), result.stderr


def test_builtin_model_build_is_a_stage(fast_ticks, monkeypatch):
    from sftvsrl_cli import stages

    built = []
    monkeypatch.setattr("trainers.models.builtin.ensure_builtin", lambda name: built.append(name) or time.sleep(0.2))
    output, buffer = _output()
    stages.ensure_builtin_model(output, "tiny-mllama")
    stages.ensure_builtin_model(output, "some/hub-model")  # not built-in: nothing to build
    assert built == ["tiny-mllama"]
    text = buffer.getvalue()
    assert "start building tiny-mllama (first use" in text and "done building tiny-mllama" in text
    assert "building tiny-mllama (first use" in text.splitlines()[1]  # a heartbeat while it builds


def test_ppo_progress_line_shows_unmeasured_losses_as_dashes():
    from sftvsrl_cli.commands.ppo import _format_update

    record = {"update": 3, "total_env_steps": 12, "episodes": 4, "success_rate": 0.14583333333333334,
              "policy_loss": -0.0, "approx_kl": 0.0, "clip_fraction": 0.0, "value_loss": 0.25,
              "optimizer_steps": 1}
    line = _format_update(record)
    assert "pg_loss=- kl=- clip=-" in line and "v_loss=0.2500" in line and "success=0.146" in line
    measured = _format_update({**record, "optimizer_steps": 4, "approx_kl": 0.0123, "policy_loss": -0.02,
                               "clip_fraction": 0.05})
    assert "pg_loss=-0.0200 kl=0.0123 clip=0.050" in measured


def test_tables_round_and_show_missing_values_as_dashes():
    assert format_cell(0.14583333333333334) == "0.1458" and format_cell(None) == "-"
    assert format_cell(float("nan")) == "-" and format_cell(12) == "12" and format_cell("x") == "x"
    assert format_duration(42) == "42s" and format_duration(185) == "3m05s" and format_duration(7260) == "2h01m"


CRON_SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "cron" / "eval_api_nightly.sh"


def _run_cron(tmp_path: Path, base_url: str, extra: str = "") -> subprocess.CompletedProcess:
    sftvsrl = tmp_path / "sftvsrl"
    sftvsrl.write_text(f"#!/bin/sh\nexec {sys.executable} -m sftvsrl_cli \"$@\"\n")
    sftvsrl.chmod(0o755)
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "SFTVSRL": str(sftvsrl), "STAMP": "night",
           "OPENAI_API_KEY_FILE": str(key_file), "SFTVSRL_PROGRESS_INTERVAL": "0.5",
           "PYTHONPATH": str(CRON_SCRIPT.parents[2]), "SFTVSRL_CACHE_DIR": str(tmp_path / "cache"),
           "EVAL_ARGS": f"--split id --num-traj 6 --timeout 0.5 --retry-base-delay 0.01 {extra}"}
    return subprocess.run(["bash", str(CRON_SCRIPT), base_url, "scripted", str(tmp_path / "nightly")], env=env,
                          capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_cron_example_runs_against_a_faulty_server_and_logs_to_a_file(tmp_path):
    with LoopbackServer(faults=True, stall_seconds=1.0) as server:
        done = _run_cron(tmp_path, server.base_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""  # cron mails any output: there is none
    summary = json.loads((tmp_path / "nightly" / "night.json").read_text())
    assert summary["splits"]["id"]["num_traj"] == 6 and server.authorization == {f"Bearer {KEY}"}
    log = (tmp_path / "nightly" / "night.log").read_text()
    assert re.search(STAMP + r" start episodes \(6 to do\)", log) and re.search(STAMP + r" done episodes 6/6", log)
    assert set(re.findall(STAMP + r" retry \(([^)]+)\) x\d+", log)) == {CAUSE_OF_FAULT[f] for f in server.faults_served}
    assert server.faults_served and log.rstrip().endswith(
        "nightly eval done: " + str(tmp_path / "nightly" / "night.json"))
    for path in (tmp_path / "nightly").rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(errors="replace"), path


@pytest.mark.slow
def test_cron_example_exit_code_says_the_run_failed_and_resumes(tmp_path):
    def crashing(messages):
        raise RuntimeError("model crashed")  # the loopback server answers 500

    with LoopbackServer(model_fn=crashing) as server:
        done = _run_cron(tmp_path, server.base_url, "--max-retries 1")
    assert done.returncode == 1, done.stderr
    log = (tmp_path / "nightly" / "night.log").read_text()
    assert "retry (HTTP 500)" in log and "re-run" in log
    assert log.rstrip().endswith("nightly eval failed (exit 1); the same command resumes it")
    bad = subprocess.run(["bash", str(CRON_SCRIPT)], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage:" in bad.stderr


def test_download_is_a_stage_in_the_log(hub_env):
    from test_download import model_repo, run_cli

    with hub_env(FakeHub([model_repo()])):
        result = run_cli("gp-l-init")
    assert result.exit_code == 0, result.output
    assert re.search(STAMP + r" start download gp-l-init\n", result.stderr), result.stderr
    assert re.search(STAMP + r" start verify \(\d+ to do\)", result.stderr)
    assert re.search(STAMP + r" done download gp-l-init in \d+s", result.stderr)
