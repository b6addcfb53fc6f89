"""`sftvsrl eval-api` against loopback OpenAI-compatible servers: a clean one and one that injects faults."""

from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from evaluators.api_client import ApiError, ChatClient, RetryPolicy, parse_retry_after
from evaluators.loopback_server import LoopbackServer
from sftvsrl_cli.main import cli

KEY = "sk-test-DO-NOT-LEAK-4f2a9c"
FAST = ["--timeout", "0.5", "--retry-base-delay", "0.01"]


def _eval_api(base_url: str, out: Path, *args: str, key: str | None = KEY):
    env = {"OPENAI_API_KEY": key} if key else {}
    runner = CliRunner(env=env)
    return runner.invoke(cli, ["eval-api", "--base-url", base_url, "--model", "scripted", "--out", str(out),
                               *FAST, *args], catch_exceptions=False)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _deterministic_files(folder: Path) -> dict[str, bytes]:
    """Every file but the run record and the lm-eval export, which hold wall-clock times by design."""
    return {name: data for name, data in _files(folder).items()
            if name != "run.json" and not name.startswith("results_")}


def test_fault_injecting_server_gives_the_same_results_as_a_clean_one(tmp_path):
    with LoopbackServer() as clean:
        result = _eval_api(clean.base_url, tmp_path / "clean", "--split", "id,rule-ood", "--num-traj", "12", "--json")
    assert result.exit_code == 0, result.stderr
    with LoopbackServer(faults=True, stall_seconds=1.0) as faulty:
        flaky = _eval_api(faulty.base_url, tmp_path / "faulty", "--split", "id,rule-ood", "--num-traj", "12", "--json")
    assert flaky.exit_code == 0, flaky.stderr
    assert set(faulty.faults_served) >= {"429", "500", "stall", "html", "drop", "truncated", "no-choices"}
    for split in ("id", "rule-ood"):
        steps = lambda name: (tmp_path / name / split / "steps.jsonl").read_bytes()
        assert steps("faulty") == steps("clean")
    clean_summary, faulty_summary = json.loads(result.stdout), json.loads(flaky.stdout)
    assert faulty_summary["retries"] >= sum(faulty.faults_served.values()) > 0
    for split in ("id", "rule-ood"):
        assert faulty_summary["splits"][split]["metrics"] == clean_summary["splits"][split]["metrics"]
    # the scripted player fails some first attempts, so verification retries happen and are logged
    assert 0 < clean_summary["splits"]["id"]["metrics"]["step_accuracy"]["rate"] < 1
    assert clean_summary["splits"]["id"]["metrics"]["success"]["rate"] == 1.0


def test_json_mode_prints_only_one_document_and_the_key_is_never_shown_or_written(tmp_path):
    with LoopbackServer(faults=True, stall_seconds=1.0) as server:
        result = _eval_api(server.base_url, tmp_path, "--split", "id", "--num-traj", "6", "--json", "-f",
                           "gp/eval_gp_l_id")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert summary["splits"]["id"]["num_traj"] == 6
    assert server.authorization == {f"Bearer {KEY}"}
    assert KEY not in result.stdout and KEY not in result.stderr
    for name, data in _files(tmp_path).items():
        assert KEY.encode() not in data, name


def test_retry_budget_exhausted_fails_with_exit_1_and_keeps_answered_episodes(tmp_path):
    answered = {"n": 0}

    def flaky_model(messages):
        answered["n"] += 1
        if answered["n"] > 10:
            raise RuntimeError("model crashed")  # the loopback server answers 500
        return '{"formula": "1+1"}'

    with LoopbackServer(model_fn=flaky_model) as server:
        result = _eval_api(server.base_url, tmp_path, "--split", "id", "--num-traj", "8", "--concurrency", "2",
                           "--max-retries", "2")
    assert result.exit_code == 1
    assert "gave up after 3 attempts" in result.stderr and "resume" in result.stderr
    lines = (tmp_path / "id" / "steps.jsonl").read_text().splitlines()
    assert len(lines) >= 8  # the answers that did arrive are kept


def test_bad_key_fails_at_once_with_a_hint_and_bad_url_is_a_usage_error(tmp_path):
    with LoopbackServer(model_fn=lambda m: "x") as server:
        server.fault_for = lambda key, attempt: "401"  # type: ignore[method-assign]
        started = time.perf_counter()
        result = _eval_api(server.base_url, tmp_path, "--split", "id", "--num-traj", "2")
    assert result.exit_code == 1 and "HTTP 401" in result.stderr and "API key" in result.stderr
    assert time.perf_counter() - started < 5 and server.requests <= 2
    bad = _eval_api("ftp://example.org", tmp_path / "x", "--split", "id", "--num-traj", "1")
    assert bad.exit_code == 2 and "http://" in bad.stderr


def test_retry_after_is_honoured_and_backoff_grows_with_jitter():
    delays: list[float] = []
    with LoopbackServer(faults=True, retry_after="3") as server:
        server.fault_for = lambda key, attempt: "429" if attempt < 2 else None  # type: ignore[method-assign]
        client = ChatClient(server.base_url, "m", None, retry=RetryPolicy(base_delay=0.01), sleep=delays.append)
        assert "cards" in client.complete([{"role": "user", "content": "Cards: ['A', '3', 'K', '6'] count as '10'"}])
    assert len(delays) == 2 and all(3.0 <= d < 3.1 for d in delays)
    import random

    rng = random.Random(0)
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    waits = [policy.delay(i, None, rng) for i in range(6)]
    assert all(min(8.0, 2**i) / 2 <= w <= min(8.0, 2**i) for i, w in enumerate(waits))
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("12") == 12.0 and parse_retry_after("soon") is None


def test_server_errors_are_retried_then_reported_clearly():
    with LoopbackServer() as server:
        server.fault_for = lambda key, attempt: "503"  # type: ignore[method-assign]
        client = ChatClient(server.base_url, "m", KEY, retry=RetryPolicy(max_retries=3, base_delay=0.001))
        with pytest.raises(ApiError, match=r"gave up after 4 attempts; last error: HTTP 503") as caught:
            client.complete([{"role": "user", "content": "hi"}])
    assert KEY not in str(caught.value) and server.requests == 4


def test_images_are_sent_as_base64_png_data_urls(tmp_path):
    with LoopbackServer(model_fn=lambda messages: '{"cards": ["A"]}') as server:
        result = _eval_api(server.base_url, tmp_path, "--task", "gp-vl", "--split", "visual-ood", "--num-traj", "1",
                           "--verify-iter", "2", "--env_config.resolution=128")
    assert result.exit_code == 0, result.stderr
    first = server.bodies[0]["messages"][0]["content"]
    url = next(part["image_url"]["url"] for part in first if part["type"] == "image_url")
    assert url.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert image.size == (128, 128)
    retry = server.bodies[1]["messages"]
    assert [m["role"] for m in retry] == ["user", "assistant", "user"]  # the verifier's message is fed back


@pytest.mark.slow
def test_killed_run_resumed_gives_identical_files(tmp_path):
    with LoopbackServer(latency=0.02) as server:
        args = ["eval-api", "--base-url", server.base_url, "--model", "scripted", "--split", "id,rule-ood",
                "--num-traj", "30", "--concurrency", "2", *FAST]
        env = {**os.environ, "OPENAI_API_KEY": KEY, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        command = [sys.executable, "-m", "sftvsrl_cli"]
        subprocess.run(command + args + ["--out", str(tmp_path / "full")], env=env, check=True, capture_output=True)
        process = subprocess.Popen(command + args + ["--out", str(tmp_path / "part")], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log = tmp_path / "part" / "id" / "steps.jsonl"
        deadline = time.time() + 60
        while time.time() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 20):
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        killed_lines = len(log.read_text().splitlines())
        assert 20 <= killed_lines
        assert not (tmp_path / "part" / "rule-ood" / "summary.json").exists()
        subprocess.run(command + args + ["--out", str(tmp_path / "part")], env=env, check=True, capture_output=True)
    assert _deterministic_files(tmp_path / "part") == _deterministic_files(tmp_path / "full")


@pytest.mark.slow
def test_a_real_tiny_model_served_over_http_answers_as_it_does_locally(tmp_path):
    from trainers.models import generate_batch, load_model

    loaded = load_model("tiny-llama", device="cpu")

    def serve(messages):
        return generate_batch(loaded, [messages], None, max_new_tokens=6, temperature=0.0, do_sample=False)[0]

    common = ["--split", "rule-ood", "--num-traj", "2", "--verify-iter", "2"]
    with LoopbackServer(model_fn=serve) as server:
        api = _eval_api(server.base_url, tmp_path / "api", *common, "--max-new-tokens", "6", "--concurrency", "1")
    assert api.exit_code == 0, api.stderr
    local = CliRunner().invoke(cli, ["eval", "--model", "tiny-llama", *common, "--max-new-tokens", "6", "--batch-size",
                                     "1", "--out", str(tmp_path / "local")], catch_exceptions=False)
    assert local.exit_code == 0, local.output
    assert (tmp_path / "api" / "rule-ood" / "steps.jsonl").read_bytes() == \
        (tmp_path / "local" / "rule-ood" / "steps.jsonl").read_bytes()
