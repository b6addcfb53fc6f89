"""The CLI's one error boundary: bad input -> one line and exit 2, a failed run -> exit 1 with a truthful
resume hint, a bug -> its traceback; `-v` shows the traceback of expected errors too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from envs.errors import CheckpointError, InputError, ModelLoadError, RunError
from evaluators.loopback_server import LoopbackServer
from sftvsrl_cli.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_RUN_FAILED
from sftvsrl_cli.main import cli
from trainers.models.builtin import ensure_builtin

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner(env=env).invoke(cli, list(args))


def one_line_error(result, code: int, *fragments: str) -> str:
    """Assert exit `code`, no traceback, and one `Error:` line holding every fragment; return that line."""
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def tiny_llama() -> Path:
    return ensure_builtin("tiny-llama")


def broken_model(source: Path, folder: Path, damage: str) -> Path:
    shutil.copytree(source, folder)
    weights = folder / "model.safetensors"
    if damage == "bad-config":
        (folder / "config.json").write_text("{not json", encoding="utf-8")
    elif damage == "truncated-weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "no-weights":
        weights.unlink()
    return folder


# -- bad input: exit 2, one line ------------------------------------------------------------------------------

def test_a_100k_deep_yaml_config_is_one_line_naming_the_file(tmp_path):
    config = tmp_path / "deep.yaml"
    config.write_text("a: " + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    result = run("sft", "-f", str(config), "--data", str(tmp_path))
    one_line_error(result, EXIT_BAD_INPUT, str(config), "nested too deeply")


def test_gen_data_with_an_impossible_target_is_one_line(tmp_path):
    result = run("gen-data", "--target", "100000", "--num", "2", "--out", str(tmp_path / "out"))
    one_line_error(result, EXIT_BAD_INPUT, "100000", "no hand")


@pytest.mark.parametrize("damage, says", [("bad-config", "config.json"), ("truncated-weights", "truncated"),
                                          ("no-weights", "weights are missing")])
def test_a_corrupt_model_folder_is_one_line_naming_it(tiny_llama, tmp_path, damage, says):
    folder = broken_model(tiny_llama, tmp_path / "model", damage)
    result = run("eval", "--model", str(folder), "--split", "id", "--num-traj", "1", "--out", str(tmp_path / "out"))
    one_line_error(result, EXIT_BAD_INPUT, f"cannot load model {folder}", says)


@pytest.mark.parametrize("command", ["sft", "ppo"])
def test_training_commands_report_a_corrupt_model_in_one_line(tiny_llama, tmp_path, command):
    folder = broken_model(tiny_llama, tmp_path / "model", "truncated-weights")
    data = tmp_path / "data"
    assert run("gen-data", "--num", "4", "--out", str(data)).exit_code == 0
    if command == "sft":
        args = ["sft", "--model", str(folder), "--data", str(data), "--out", str(tmp_path / "out"), "--max-steps", "1"]
    else:
        args = ["ppo", "--task", "gp-l", "--model", str(folder), "--out", str(tmp_path / "out")]
    one_line_error(run(*args), EXIT_BAD_INPUT, f"cannot load model {folder}", "truncated")


@pytest.mark.slow
def test_a_model_that_is_neither_local_nor_reachable_is_one_line(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-m", "sftvsrl_cli", "eval", "--model", "nobody/no-such-model-xyz",
                             "--split", "id", "--num-traj", "1", "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert result.returncode == EXIT_BAD_INPUT, result.stderr
    assert "Traceback" not in result.stderr
    assert "cannot load model nobody/no-such-model-xyz" in result.stderr and "sftvsrl download" in result.stderr


@pytest.mark.parametrize("base_url, shown", [("http://[::1", "'http://[::1'"), ("ftp://host/v1", "ftp://host/v1"),
                                             ("http://me:sk-secret-in-url-123@[::1/v1", "http://***@[::1/v1")])
def test_a_bad_base_url_is_one_line_with_userinfo_masked(tmp_path, base_url, shown):
    result = run("eval-api", "--base-url", base_url, "--model", "m", "--num-traj", "1", "--out", str(tmp_path))
    one_line_error(result, EXIT_BAD_INPUT, shown)
    assert "sk-secret-in-url-123" not in result.output


def test_a_corrupt_resume_checkpoint_is_one_line(tmp_path):
    from trainers.sft import checkpoint as ckpt

    folder = tmp_path / "checkpoint-2"
    (folder / "state").mkdir(parents=True)
    (folder / "state" / "optimizer.bin").write_bytes(b"\x80\x04truncated")
    (folder / ckpt.STATE_FILE).write_text("{}", encoding="utf-8")

    class Accelerator:
        def load_state(self, path: str) -> None:
            import torch

            torch.load(Path(path) / "optimizer.bin", weights_only=True)

    with pytest.raises(CheckpointError, match=r"checkpoint-2 is incomplete or corrupt .*--resume PATH"):
        ckpt.load_checkpoint(Accelerator(), folder)


# -- a failed run: exit 1 and a truthful resume hint ----------------------------------------------------------

def test_a_run_that_gave_up_on_retries_says_rerunning_resumes(tmp_path):
    def broken(messages):
        raise RuntimeError("model crashed")  # answered as HTTP 500, retryable

    with LoopbackServer(model_fn=broken) as server:
        result = run("eval-api", "--base-url", server.base_url, "--model", "m", "--split", "id", "--num-traj", "2",
                     "--out", str(tmp_path), "--max-retries", "1", "--retry-base-delay", "0")
    one_line_error(result, EXIT_RUN_FAILED, "gave up after 2 attempts", "re-run the same command to resume")


class _Refusing(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # what an endpoint answers for an unknown model
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"error": {"message": "model not found"}}'
        self.send_response(400)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_a_refused_request_says_it_is_not_resumable(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = run("eval-api", "--base-url", f"http://127.0.0.1:{server.server_address[1]}/v1", "--model", "m",
                     "--split", "id", "--num-traj", "2", "--out", str(tmp_path), "--retry-base-delay", "0")
    finally:
        server.shutdown()
    line = one_line_error(result, EXIT_RUN_FAILED, "HTTP 400", "model not found", "not resumable:")
    assert "re-run the same command to resume" not in line


# -- exit codes and tracebacks --------------------------------------------------------------------------------

def test_exit_codes_zero_one_two(tmp_path):
    assert run("gen-data", "--num", "2", "--out", str(tmp_path / "ok")).exit_code == EXIT_OK
    assert run("gen-data", "--num", "0", "--out", str(tmp_path / "bad")).exit_code == EXIT_BAD_INPUT  # usage
    assert run("gen-data", "--num", "2", "--out", str(tmp_path / "x"), "--no_such.key=1").exit_code == EXIT_BAD_INPUT


def test_verbose_shows_the_traceback_of_an_expected_error(tmp_path):
    result = run("-v", "gen-data", "--target", "100000", "--num", "2", "--out", str(tmp_path))
    assert result.exit_code == EXIT_BAD_INPUT
    assert "Traceback (most recent call last)" in result.stderr and "envs.errors.InputError" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("Error: target_points 100000")


_BUG = """
import sys
import trainers.config.loader as loader
def load_yaml(path):
    {body}
loader.load_yaml = load_yaml
from sftvsrl_cli.main import cli
sys.argv = ["sftvsrl", "gen-data", "-f", sys.argv[1], "--num", "1", "--out", sys.argv[2]] + sys.argv[3:]
cli()
"""


# A plain ValueError raised on purpose by the project's own code (a `raise` line in evaluators/) is a bug too:
# validation raises InputError, so no ValueError is taken for bad input because of where it was raised.
_PLAIN_VALUE_ERROR = "from evaluators.metrics import binomial_stderr; return binomial_stderr(0.5, 0)"


@pytest.mark.parametrize("body, kind", [("return {}['no-such-key']", "KeyError"),
                                        ("return dict(int('not a number'))", "ValueError: invalid literal"),
                                        (_PLAIN_VALUE_ERROR, "ValueError: n must be positive")])
def test_an_unexpected_error_keeps_its_traceback(tmp_path, body, kind):
    config = tmp_path / "c.yaml"
    config.write_text("{}\n", encoding="utf-8")
    script = _BUG.format(body=body)
    for extra in ([], ["--json"]):
        result = subprocess.run([sys.executable, "-c", script, str(config), str(tmp_path / "out"), *extra],
                                capture_output=True, text=True, cwd=REPO, timeout=120)
        assert result.returncode == 1, result.stderr
        assert "Traceback (most recent call last)" in result.stderr and kind in result.stderr
        assert "in load_yaml" in result.stderr  # the frame where it went wrong
        if extra:
            import json

            assert json.loads(result.stdout)["exit_code"] == 1


def test_an_input_error_from_project_code_is_one_line(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("{}\n", encoding="utf-8")
    script = _BUG.format(body="from envs.general_points.cards import parse_card; return parse_card('Z', 'H')")
    for extra in ([], ["--json"]):
        result = subprocess.run([sys.executable, "-c", script, str(config), str(tmp_path / "out"), *extra],
                                capture_output=True, text=True, cwd=REPO, timeout=120)
        assert result.returncode == EXIT_BAD_INPUT, result.stderr
        assert "Traceback" not in result.stderr
        lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
        assert len(lines) == 1 and lines[0].startswith("Error: not a card: 'Z'"), result.stderr
        if extra:
            import json

            assert json.loads(result.stdout) == {"error": lines[0][len("Error: "):], "exit_code": EXIT_BAD_INPUT}


def test_error_types_map_to_exit_codes():
    from evaluators.metrics import binomial_stderr
    from envs.general_points.cards import parse_card
    from sftvsrl_cli.errors import classify

    assert classify(ModelLoadError("m")) == (EXIT_BAD_INPUT, "m")
    assert classify(RunError("r", resumable=True)) == (EXIT_RUN_FAILED, "r (re-run the same command to resume)")
    assert classify(RunError("r", resumable=False, not_resumable_because="why")) == (1, "r (not resumable: why)")
    assert classify(TypeError("bug")) is None
    assert classify(ValueError("from a library")) is None
    with pytest.raises(ValueError) as plain:  # a `raise ValueError(...)` line in the project's own code
        binomial_stderr(0.5, 0)
    assert type(plain.value) is ValueError and classify(plain.value) is None  # a bug: keeps its traceback
    with pytest.raises(InputError) as bad_input:
        parse_card("Z", "H")
    assert classify(bad_input.value) == (EXIT_BAD_INPUT, str(bad_input.value))
    assert issubclass(InputError, ValueError)


# -- a model's answer never stops a run ----------------------------------------------------------------------

def test_a_lone_surrogate_answer_is_logged_losslessly_and_an_interrupted_run_resumes(tmp_path):
    import json

    answer = '{"cards": ["A"], "formula": "\ud800 1+1=24 \udfff"}'  # JSON "\ud800" decodes to a lone surrogate
    served = {"n": 0, "limit": 4}

    def dies_after_limit(messages):
        served["n"] += 1
        if served["n"] > served["limit"]:
            raise RuntimeError("model crashed")
        return answer

    out = tmp_path / "out"
    with LoopbackServer(model_fn=dies_after_limit) as server:
        args = ["eval-api", "--base-url", server.base_url, "--model", "m", "--split", "id", "--num-traj", "6",
                "--verify-iter", "1", "--out", str(out), "--max-retries", "0", "--batch-size", "6",
                "--concurrency", "1"]
        one_line_error(run(*args), EXIT_RUN_FAILED, "re-run the same command to resume")
        served["limit"], asked_before = 100, served["n"]
        resumed = run(*args)
        assert resumed.exit_code == EXIT_OK, resumed.output
    assert served["n"] - asked_before == 6 - 4  # the four logged answers were not asked again
    steps = [json.loads(line) for line in (out / "id" / "steps.jsonl").read_text(encoding="utf-8").splitlines()]
    outputs = [record["output"] for record in steps if record["type"] == "step" and record["scored"]]
    assert len(outputs) == 6 and set(outputs) == {answer}  # read back exactly as answered


@pytest.mark.slow
def test_sft_resume_from_a_truncated_optimizer_state_is_one_line(tmp_path):
    data = tmp_path / "data"
    assert run("gen-data", "--num", "4", "--out", str(data)).exit_code == 0
    out = tmp_path / "out"
    args = ["sft", "--data", str(data), "--out", str(out), "--max-steps", "2", "--batch-size", "2", "--seed", "1"]
    assert run(*args, "--save-every", "1").exit_code == EXIT_OK
    state = sorted(out.glob("checkpoint-*/state"))[0]
    optimizer = next(p for p in state.iterdir() if p.name.startswith("optimizer"))
    optimizer.write_bytes(optimizer.read_bytes()[:100])
    result = run(*args, "--resume", str(state.parent))
    one_line_error(result, EXIT_BAD_INPUT, f"checkpoint {state.parent} is incomplete or corrupt", "--resume PATH")
