"""A client for OpenAI-compatible chat-completions endpoints, with timeouts and patient retries.

Built on httpx2 (the maintained successor of httpx, already installed with huggingface_hub; httpx itself on
Python 3.10): connection pooling shared by threads, and typed timeout and transport errors.

Retries: 429, 408 and 5xx answers, timeouts, connection errors and 200 answers whose body is not a
chat-completion (a proxy's HTML page, truncated JSON) are retried with exponential backoff and full jitter,
waiting what `Retry-After` asks when the server sends it; after `max_retries` retries the call fails with an
`ApiError` that says what went wrong last. Other 4xx answers (bad request, bad key, unknown model) fail at
once. The API key goes only into the Authorization header; it is scrubbed from every error message.
"""

from __future__ import annotations

import email.utils
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

try:  # httpx2 needs Python >= 3.11; httpx has the same API
    import httpx2 as httpx
except ImportError:  # pragma: no cover
    import httpx  # type: ignore[no-redef]

RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_MAX_BODY_BYTES = 4 * 1024 * 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class ApiError(RuntimeError):
    """A request that failed for good (a non-retryable answer, or the retry budget spent)."""


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
    """The assistant text of a chat-completion body; ValueError when the body is not one."""
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
    raise ValueError(f"choices[0].message.content is a {type(content).__name__}")


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
    ) -> None:
        if not re.match(r"^https?://", base_url):
            raise ValueError(f"--base-url must start with http:// or https://, got {base_url!r}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.retry = retry
        self._api_key = api_key or None
        self._sleep = sleep
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
        text = _CONTROL.sub(" ", text)[:300]
        return text.replace(self._api_key, "***") if self._api_key else text

    def complete(self, messages: list[dict[str, Any]], **params: Any) -> str:
        """The assistant's text for `messages`; `params` (temperature, max_tokens, seed...) go into the body."""
        payload = {"model": self.model, "messages": messages, **{k: v for k, v in params.items() if v is not None}}
        last_error = ""
        for attempt in range(self.retry.max_retries + 1):
            retry_after = None
            try:
                response = self._client.post(self.url, json=payload)
            except httpx.TimeoutException:
                last_error = "the request timed out"
            except httpx.TransportError as error:
                last_error = f"connection error ({type(error).__name__}: {self._scrub(str(error))})"
            else:
                status = response.status_code
                if status == 200:
                    try:
                        if len(response.content) > _MAX_BODY_BYTES:
                            raise ValueError("the answer is larger than 4 MiB")
                        return completion_text(response.json())
                    except ValueError as error:
                        last_error = f"malformed answer body ({self._scrub(str(error))})"
                elif status in RETRYABLE_STATUS or status >= 500:
                    last_error = f"HTTP {status}: {self._scrub(response.text)}"
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                else:
                    hint = " (check the API key and its environment variable)" if status in (401, 403) else ""
                    raise ApiError(f"HTTP {status} from {self.url}{hint}: {self._scrub(response.text)}")
            if attempt == self.retry.max_retries:
                break
            with self._rng_lock:
                self.retries_done += 1
                delay = self.retry.delay(attempt, retry_after, self._rng)
            self._sleep(delay)
        raise ApiError(f"{self.url}: gave up after {self.retry.max_retries + 1} attempts; last error: {last_error}")
