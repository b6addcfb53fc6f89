"""A loopback OpenAI-compatible chat-completions server, for tests, benchmarks and dry runs of `eval-api`.

    python -m evaluators.loopback_server --port 8089 --latency 0.05 [--faults]

Its default model is a scripted GeneralPoints player: it reads the hand and the face-card rule from the GP-L
prompt and answers the solver's solution, except that some hands first get a wrong formula (so retries and
verifier feedback are exercised); for anything else it answers a fixed JSON. Answers depend only on the
request, never on timing. Any `model_fn(messages) -> str` can replace it (a real model, the oracle).

With faults on, each distinct request first meets a deterministic sequence of failures chosen from its
content: 429 with `Retry-After`, 500, 503, a stall longer than the client's timeout, a dropped connection, an
HTML page, truncated JSON or an empty `choices` list; then it is answered normally.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from envs.general_points.solver import solutions

FAULTS = ("429", "500", "stall", "html", "drop", "truncated", "no-choices", "503")
_CARDS = re.compile(r"Cards: \[([^\]]*)\]")


def scripted_gp_player(messages: list[dict[str, Any]]) -> str:
    """Solve a GP-L hand from its prompt; answer a wrong formula first for a third of the hands."""
    first = messages[0]["content"]
    text = first if isinstance(first, str) else " ".join(p.get("text", "") for p in first if isinstance(p, dict))
    found = _CARDS.search(text)
    if not found:
        return '{"answer": "I do not know this task"}'
    ranks = [token.strip().strip("'\"") for token in found.group(1).split(",")]
    as_10 = "count as '10'" in text
    values = [{"A": 1, "J": 10 if as_10 else 11, "Q": 10 if as_10 else 12, "K": 10 if as_10 else 13}.get(r) or int(r)
              for r in ranks]
    attempts = sum(1 for message in messages if message["role"] == "assistant")
    digest = int(hashlib.sha256(",".join(ranks).encode()).hexdigest(), 16)
    found_solutions = solutions(values, 24)
    if not found_solutions or (digest % 3 == 0 and attempts == 0):
        formula = "+".join(map(str, values)) + "=24"  # legal, almost always wrong
    else:
        formula = f"{found_solutions[0]}=24"
    return json.dumps({"cards": ranks, "number": values, "formula": formula})


class LoopbackServer:
    """Serves `POST /v1/chat/completions` on 127.0.0.1 in a background thread."""

    def __init__(self, model_fn: Callable[[list[dict[str, Any]]], str] = scripted_gp_player, latency: float = 0.0,
                 faults: bool = False, stall_seconds: float = 2.0, retry_after: str = "0", port: int = 0) -> None:
        self.model_fn = model_fn
        self.latency = latency
        self.faults = faults
        self.stall_seconds = stall_seconds
        self.retry_after = retry_after
        self.lock = threading.Lock()
        self.attempts: dict[str, int] = {}
        self.requests = 0
        self.faults_served: dict[str, int] = {}
        self.authorization: set[str] = set()
        self.bodies: list[dict[str, Any]] = []
        if model_fn is scripted_gp_player:
            solutions([1, 2, 3, 4], 24)  # build the solver table now, not inside the first request's timeout
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> "LoopbackServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def fault_for(self, key: str, attempt: int) -> str | None:
        """The failure the `attempt`-th try of a request meets (None: answer it)."""
        if not self.faults:
            return None
        digest = int(hashlib.sha256(key.encode()).hexdigest(), 16)
        plan = [FAULTS[(digest >> (4 * i)) % len(FAULTS)] for i in range(digest % 3)]  # 0, 1 or 2 failures
        return plan[attempt] if attempt < len(plan) else None

    def _handler(self):
        # Long on purpose: http.server wants a handler class; defined here, it closes over this server's script.
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: bytes, content_type: str = "application/json", **headers: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name.replace("_", "-"), value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                try:
                    body = json.loads(raw)
                    messages = body["messages"]
                except (ValueError, KeyError, TypeError):
                    self._send(400, b'{"error": {"message": "invalid request body"}}')
                    return
                key = hashlib.sha256(raw).hexdigest()
                with server.lock:
                    server.requests += 1
                    attempt = server.attempts.get(key, 0)
                    server.attempts[key] = attempt + 1
                    server.authorization.add(self.headers.get("Authorization", ""))
                    server.bodies.append(body)
                    fault = server.fault_for(key, attempt)
                    if fault:
                        server.faults_served[fault] = server.faults_served.get(fault, 0) + 1
                if server.latency:
                    time.sleep(server.latency)
                try:
                    self._respond(fault, body, messages)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _respond(self, fault: str | None, body: dict[str, Any], messages: list[dict[str, Any]]) -> None:
                if fault == "429":
                    self._send(429, b'{"error": {"message": "rate limited"}}', Retry_After=server.retry_after)
                elif fault and fault.isdigit():
                    self._send(int(fault), b'{"error": {"message": "injected error"}}')
                elif fault == "stall":
                    time.sleep(server.stall_seconds)
                    self._send(200, b"{}")
                elif fault == "html":
                    self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
                elif fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                elif fault == "truncated":
                    self._send(200, b'{"choices": [{"message": {"content": "{\\"formula')
                elif fault == "no-choices":
                    self._send(200, b'{"choices": []}')
                else:
                    try:
                        text = server.model_fn(messages)
                    except Exception as error:  # the model failed: what a real server answers
                        self._send(500, json.dumps({"error": {"message": str(error)}}).encode())
                        return
                    answer = {
                        "id": "chatcmpl-loopback", "object": "chat.completion", "created": 0,
                        "model": body.get("model", "loopback"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": text}}],
                    }
                    self._send(200, json.dumps(answer).encode())

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    parser.add_argument("--faults", action="store_true", help="inject 429s, 5xx, stalls and malformed bodies")
    args = parser.parse_args()
    with LoopbackServer(latency=args.latency, faults=args.faults, port=args.port) as server:
        print(f"serving {server.base_url} (Ctrl-C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
