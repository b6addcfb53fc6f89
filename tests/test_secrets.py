"""No secret is ever printed, logged or written: an endpoint that echoes the key (in response headers, error
bodies and answers) and a password in the base URL, at `-v -v`, leave no trace in any output."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from envs import secrets
from evaluators.api_client import ChatClient, RetryPolicy
from evaluators.loopback_server import scripted_gp_player

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-echo-DO-NOT-LEAK-8c1d4e77"
PASSWORD = "pw-in-url-DO-NOT-LEAK-5b2f"


class EchoingServer:
    """A chat-completions server that echoes every secret it sees: in a response header on every answer, in
    the body of a 503 on each request's first attempt, and inside the model's answer."""

    def __init__(self) -> None:
        attempts: dict[str, int] = {}
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                echo = f"{self.headers.get('Authorization', '')} {KEY} {PASSWORD}"
                with lock:
                    attempts[raw] = attempts.get(raw, 0) + 1
                    first = attempts[raw] == 1
                if first:
                    status, body = 503, {"error": {"message": f"overloaded; you sent {echo}"}}
                else:
                    answer = json.loads(scripted_gp_player(json.loads(raw)["messages"]))
                    answer["echo"] = echo
                    status, body = 200, {"choices": [{"message": {"role": "assistant",
                                                                  "content": json.dumps(answer)}}]}
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Echo-Authorization", echo)
                self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True

    def __enter__(self) -> "EchoingServer":
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]


def sweep(*texts: str | bytes, folder: Path | None = None) -> None:
    """Assert no secret in any text nor in any file under `folder`."""
    blobs = [t.encode() if isinstance(t, str) else t for t in texts]
    files = [p for p in folder.rglob("*") if p.is_file()] if folder else []
    blobs += [p.read_bytes() for p in files]
    assert files or folder is None
    for secret in (KEY, PASSWORD):
        for blob in blobs:
            assert secret.encode() not in blob
            assert secret[:12].encode() not in blob  # not even a prefix left by cutting a message short


def test_eval_api_at_debug_verbosity_leaks_no_secret(tmp_path):
    out = tmp_path / "out"
    with EchoingServer() as server:
        result = subprocess.run(
            [sys.executable, "-m", "sftvsrl_cli", "-v", "-v", "eval-api", "--base-url",
             f"http://user:{PASSWORD}@127.0.0.1:{server.port}/v1", "--model", "m", "--split", "id", "--num-traj",
             "3", "--out", str(out), "--retry-base-delay", "0", "--concurrency", "2", "--json"],
            capture_output=True, text=True, cwd=REPO, timeout=120, env={**os.environ, "OPENAI_API_KEY": KEY})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "X-Echo-Authorization" in result.stderr or "x-echo-authorization" in result.stderr.lower()  # logged
    assert "***" in result.stderr  # ... with the secrets masked
    summary = json.loads(result.stdout)
    assert summary["splits"]["id"]["num_traj"] == 3 and summary["retries"] >= 3
    sweep(result.stdout, result.stderr, folder=out)


def test_a_key_straddling_the_cut_of_a_long_message_is_masked_whole():
    client = ChatClient("http://127.0.0.1:9/v1", "m", api_key=KEY, retry=RetryPolicy(max_retries=0))
    with client:
        for offset in range(280, 305):
            text = "x" * offset + KEY + "y" * 50
            sweep(client._scrub(text))


def test_every_log_record_is_scrubbed_whatever_logger_writes_it():
    secrets.register(KEY)
    secrets.install_log_scrubbing()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    loggers = [logging.getLogger(name) for name in ("httpcore.http11", "huggingface_hub.utils")]
    saved = [(logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    try:
        loggers[0].debug("receive_response_headers.complete return_value=%r", [(b"X-Echo", f"Bearer {KEY}".encode())])
        loggers[1].debug("GET https://u:%s@hub/api", PASSWORD)
    finally:
        for logger, (level, propagate) in zip(loggers, saved):
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
    text = stream.getvalue()
    assert "X-Echo" in text and "Bearer ***" in text and "https://***@hub/api" in text
    sweep(text)


def test_urls_show_userinfo_as_stars():
    assert secrets.redact_url(f"https://user:{PASSWORD}@host:8/v1?q=a@b") == "https://***@host:8/v1?q=a@b"
    assert secrets.redact_url("http://[::1]:8000/v1") == "http://[::1]:8000/v1"
    client = ChatClient(f"http://me:{PASSWORD}@127.0.0.1:9/v1", "m")
    with client:
        assert client.public_url == "http://***@127.0.0.1:9/v1/chat/completions"


HF_SECRET = "hf_echoDONOTLEAK7d3a1c9e0b"


class _EchoingHub(BaseHTTPRequestHandler):
    """A hub endpoint that echoes the token it is sent in a response header and body, answering 404."""

    protocol_version = "HTTP/1.1"

    def _echo(self) -> None:
        echo = f"{self.headers.get('Authorization', '')} {HF_SECRET}"
        body = json.dumps({"error": f"Repository not found for {echo}"}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Echo-Authorization", echo)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = _echo

    def log_message(self, *args) -> None:
        pass


def test_download_at_debug_verbosity_leaks_no_hf_token(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {**os.environ, "HF_TOKEN": HF_SECRET, "HF_HOME": str(tmp_path / "hf"), "NO_PROXY": "127.0.0.1",
           "HF_ENDPOINT": f"http://127.0.0.1:{server.server_address[1]}", "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.pop("HF_HUB_OFFLINE", None)
    try:
        result = subprocess.run([sys.executable, "-m", "sftvsrl_cli", "-v", "-v", "download", "lab/no-such-model"],
                                capture_output=True, text=True, cwd=REPO, timeout=120, env=env)
    finally:
        server.shutdown()
    assert result.returncode == 2, result.stderr[-3000:]
    assert "x-echo-authorization" in result.stderr.lower()  # the debug log did print the headers ...
    for blob in (result.stdout, result.stderr, *(p.read_bytes().decode("latin-1") for p in (tmp_path / "hf").rglob("*")
                                                 if p.is_file() and not p.is_symlink())):
        assert HF_SECRET not in blob and HF_SECRET[:12] not in blob  # ... with the token masked
