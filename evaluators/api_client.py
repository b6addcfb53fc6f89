"""A client for OpenAI-compatible chat-completions endpoints, with timeouts and patient retries.

Built on httpx2 (the maintained successor of httpx, already installed with huggingface_hub; httpx itself on
Python 3.10): connection pooling shared by threads, and typed timeout and transport errors.

Retries: 429, 408 and 5xx answers, timeouts, connection errors and 200 answers whose body is not a
chat-completion (a proxy's HTML page, truncated JSON) are retried with exponential backoff and full jitter,
waiting what `Retry-After` asks when the server sends it; after `max_retries` retries the call fails with an
`ApiError` that says what went wrong last. Other 4xx answers (bad request, bad key, unknown model) fail at
once. The API key goes only into the Authorization header; it (and any password in the base URL's userinfo)
is registered with `envs.secrets`, so it is scrubbed from every error message and log record, and the URL is
shown with its userinfo as `***` (`public_url`).
"""

from __future__ import annotations

import email.utils
import json
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from envs import secrets
from envs.errors import UrlError

try:  # httpx2 needs Python >= 3.11; httpx has the same API
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_MAX_BODY_BYTES = 4 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class ApiError(RuntimeError):
    """A request that failed for good: `retryable` when the retry budget was spent on errors that may pass
    (re-running later can succeed), False for an answer that will not change (bad request, key or model)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def check_base_url(base_url: str) -> str:
    """`base_url` when it is a usable http(s) URL; otherwise a `UrlError` showing it with userinfo masked."""
    shown = secrets.redact_url(base_url)
    if not re.match(r"^https?://", base_url):
        raise UrlError(f"--base-url must start with http:// or https://, got {shown!r}")
    try:
        host = httpx.URL(base_url).host
        urlsplit(base_url).port  # ValueError for a port out of range
    except (httpx.InvalidURL, ValueError) as error:
        raise UrlError(f"--base-url {shown!r} is not a valid URL ({secrets.scrub(str(error))})") from None
    if not host or any(c.isspace() for c in base_url):
        raise UrlError(f"--base-url {shown!r} is not a valid URL (no host, or spaces)")
    return base_url


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6
    """Retries after the first attempt."""
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 300.0
    """Longest `Retry-After` honoured; a longer one counts as this."""

    def delay(self, retry: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number `retry` (0-based)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after) + rng.uniform(0, 0.1 * self.base_delay)
        ceiling = min(self.max_delay, self.base_delay * (2**retry))
        return rng.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()[:64]
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time()) if when is not None else None


def completion_text(body: Any) -> str:
    """The assistant text of a chat-completion body; ValueError when the body is not one. Whatever the model
    answered is returned as it is (a non-text `content` as its JSON), so no answer stops a run."""
    try:
        message = body["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("no choices[0].message in the answer") from None
    if not isinstance(message, dict):
        raise ValueError("choices[0].message is not an object")
    content = message.get("content")
    if content is None:
        return ""  # a refusal or an empty answer: a valid, unhelpful reply
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return json.dumps(content, ensure_ascii=False)  # an odd answer is still the model's answer: scored, not fatal


class ChatClient:
    """POSTs to `{base_url}/chat/completions`; safe to share between threads."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout: float = 120.0,
        retry: RetryPolicy = RetryPolicy(),
        max_connections: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        on_retry: Callable[[str, str, float], None] | None = None,
    ) -> None:
        """`on_retry(cause, detail, delay)` is called before each retry's wait; cause is `timeout`,
        `connection`, `malformed body` or `HTTP <status>`, detail the scrubbed error."""
        self.url = check_base_url(base_url).rstrip("/") + "/chat/completions"
        self.public_url = secrets.redact_url(self.url)
        self.model = model
        self.retry = retry
        self._api_key = api_key or None
        parts = urlsplit(base_url)
        userinfo_secret = parts.password or parts.username  # a key may sit in either
        self._private = [api_key, userinfo_secret]
        secrets.register(api_key, userinfo_secret)
        self._sleep = sleep
        self._on_retry = on_retry
        self._rng = random.Random()
        self._rng_lock = threading.Lock()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 30.0)),
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self.retries_done = 0

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "ChatClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _scrub(self, text: str) -> str:
        """Scrubbed of the key and URL userinfo first, then cut (cutting first could leave part of a key)."""
        return secrets.scrub_and_cut(_CONTROL.sub(" ", text), 300, self._private)

    def complete(self, messages: list[dict[str, Any]], **params: Any) -> str:
        """The assistant's text for `messages`; `params` (temperature, max_tokens, seed...) go into the body."""
        payload = {"model": self.model, "messages": messages, **{k: v for k, v in params.items() if v is not None}}
        last_error = ""
        for attempt in range(self.retry.max_retries + 1):
            retry_after, cause = None, "timeout"
            try:
                response = self._client.post(self.url, json=payload)
            except httpx.TimeoutException:
                last_error = "the request timed out"
            except httpx.TransportError as error:
                cause, last_error = "connection", f"connection error ({type(error).__name__}: {self._scrub(str(error))})"
            else:
                status = response.status_code
                if status == 200:
                    try:
                        if len(response.content) > _MAX_BODY_BYTES:
                            raise ValueError("the answer is larger than 4 MiB")
                        return secrets.mask(completion_text(response.json()), self._private)  # an echoed key
                    except ValueError as error:
                        cause, last_error = "malformed body", f"malformed answer body ({self._scrub(str(error))})"
                elif status in RETRYABLE_STATUS or status >= 500:
                    cause, last_error = f"HTTP {status}", f"HTTP {status}: {self._scrub(response.text)}"
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                else:
                    hint = " (check the API key and its environment variable)" if status in (401, 403) else ""
                    raise ApiError(f"HTTP {status} from {self.public_url}{hint}: {self._scrub(response.text)}",
                                   retryable=False)
            if attempt == self.retry.max_retries:
                break
            with self._rng_lock:
                self.retries_done += 1
                delay = self.retry.delay(attempt, retry_after, self._rng)
            if self._on_retry is not None:
                self._on_retry(cause, last_error, delay)
            self._sleep(delay)
        raise ApiError(f"{self.public_url}: gave up after {self.retry.max_retries + 1} attempts; "
                       f"last error: {last_error}")
