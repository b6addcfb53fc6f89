"""A loopback stand-in for the Hugging Face Hub endpoints that `snapshot_download` calls (huggingface_hub 2.x).

Serves, for each repository it holds: `GET /api/{models,datasets}/<id>/revision/<rev>` (repo info with the
commit sha), `GET /api/.../tree/<rev>` (recursive file listing with git blob ids and LFS sha256), and
`HEAD`/`GET` `[/datasets]/<id>/resolve/<rev>/<path>` with X-Repo-Commit, ETag, Content-Length and Range
support. Private repositories answer 401 without the right bearer token. Faults can be injected: a transfer
cut after N bytes (first attempt only), a file answering 500, or a file served with corrupted bytes.
Only 127.0.0.1 is ever bound.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


@dataclass
class FakeRepo:
    repo_id: str
    repo_type: str  # "model" or "dataset"
    files: dict[str, bytes]
    lfs: set[str] = field(default_factory=set)
    private: bool = False
    commit: str = ""

    def __post_init__(self) -> None:
        if not self.commit:
            digest = hashlib.sha1(self.repo_id.encode())
            for name in sorted(self.files):
                digest.update(name.encode() + b"\0" + self.files[name])
            self.commit = digest.hexdigest()

    def etag(self, path: str) -> str:
        content = self.files[path]
        if path in self.lfs:
            return hashlib.sha256(content).hexdigest()
        return git_blob_id(content)


def git_blob_id(content: bytes) -> str:
    return hashlib.sha1(f"blob {len(content)}\0".encode() + content).hexdigest()


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    authorization: str | None


class FakeHub:
    """Start with `with FakeHub(repos, token=...) as hub:`; `hub.endpoint` is the HF_ENDPOINT to use."""

    def __init__(self, repos: list[FakeRepo], token: str | None = None) -> None:
        self.repos = {(repo.repo_type, repo.repo_id): repo for repo in repos}
        self.token = token
        self.requests: list[Request] = []
        self.cut_after: dict[str, int] = {}  # file path -> bytes sent before the first transfer is cut
        self.fail_get: set[str] = set()  # file paths whose GET answers 500
        self.corrupt: set[str] = set()  # file paths served with one byte flipped
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> "FakeHub":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()

    def file_gets(self) -> list[Request]:
        return [r for r in self.requests if r.method == "GET" and "/resolve/" in r.path]

    def log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


_API = re.compile(r"^/api/(models|datasets)/([^/]+/[^/]+)/(revision|tree)/([^/]+)$")
_RESOLVE = re.compile(r"^(/datasets)?/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")


def _handler_for(hub: FakeHub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            self._serve(head=False)

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def _serve(self, head: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.log(Request(self.command, path, self.headers.get("Range"), self.headers.get("Authorization")))
            api, resolve = _API.match(path), _RESOLVE.match(path)
            if api:
                repo_type = api.group(1)[:-1]
                repo = self._repo(repo_type, api.group(2))
                if repo is not None and self._revision_ok(repo, api.group(4)):
                    self._api(repo, api.group(3), head)
            elif resolve:
                repo = self._repo("dataset" if resolve.group(1) else "model", resolve.group(2))
                if repo is not None and self._revision_ok(repo, resolve.group(3)):
                    self._file(repo, resolve.group(4), head)
            else:
                self._error(404, {"X-Error-Code": "RepoNotFound"})

        def _repo(self, repo_type: str, repo_id: str) -> FakeRepo | None:
            repo = hub.repos.get((repo_type, repo_id))
            if repo is None:
                self._error(404, {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"})
                return None
            if repo.private and self.headers.get("Authorization") != f"Bearer {hub.token}":
                self._error(401, {"X-Error-Message": "Invalid username or password."})
                return None
            return repo

        def _revision_ok(self, repo: FakeRepo, revision: str) -> bool:
            if revision in ("main", repo.commit):
                return True
            self._error(404, {"X-Error-Code": "RevisionNotFound", "X-Error-Message": "Invalid rev id"})
            return False

        def _api(self, repo: FakeRepo, kind: str, head: bool) -> None:
            if kind == "revision":
                body = {"id": repo.repo_id, "sha": repo.commit, "private": repo.private,
                        "siblings": [{"rfilename": name} for name in sorted(repo.files)]}
            else:
                body = []
                folders = sorted({"/".join(name.split("/")[:i]) for name in repo.files
                                  for i in range(1, name.count("/") + 1)})
                body += [{"type": "directory", "path": folder, "oid": "0" * 40, "size": 0} for folder in folders]
                for name in sorted(repo.files):
                    content = repo.files[name]
                    item = {"type": "file", "path": name, "size": len(content), "oid": git_blob_id(content)}
                    if name in repo.lfs:
                        item["lfs"] = {"oid": hashlib.sha256(content).hexdigest(), "size": len(content),
                                       "pointerSize": 134}
                    body.append(item)
            self._send(200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)

        def _file(self, repo: FakeRepo, name: str, head: bool) -> None:
            if name not in repo.files:
                self._error(404, {"X-Error-Code": "EntryNotFound"})
                return
            content = repo.files[name]
            if name in hub.corrupt:
                content = bytes([content[0] ^ 0xFF]) + content[1:]
            headers = {"X-Repo-Commit": repo.commit, "ETag": f'"{repo.etag(name)}"', "Accept-Ranges": "bytes"}
            if head:
                self._send(200, content, headers, head=True)
                return
            if name in hub.fail_get:
                self._error(500, {"X-Error-Message": "Internal Error"})
                return
            start = 0
            match = re.match(r"bytes=(\d+)-$", self.headers.get("Range") or "")
            status = 200
            if match:
                start, status = int(match.group(1)), 206
                headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
            body = content[start:]
            cut = hub.cut_after.pop(name, None)
            if cut is not None and cut < len(body):
                self.send_response(status)
                for key, value in {**headers, "Content-Length": str(len(body))}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self._send(status, body, headers, head=False)

        def _error(self, status: int, headers: dict[str, str]) -> None:
            self._send(status, json.dumps({"error": headers.get("X-Error-Message", "error")}).encode(),
                       {**headers, "Content-Type": "application/json"}, head=self.command == "HEAD")

        def _send(self, status: int, body: bytes, headers: dict[str, str], head: bool) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head:
                self.wfile.write(body)

    return Handler
