"""Keep secrets (API keys, HF tokens, passwords in URLs) out of every message, log record and file.

`register(secret)` adds a value to the process-wide set; `scrub(text)` replaces every registered value and
every URL userinfo (`https://user:pass@host` -> `https://***@host`) with `***`; `redact_url(url)` does the
latter for one URL. `install_log_scrubbing()` makes every log record scrubbed at creation, whichever library
logs it (httpx's and huggingface_hub's debug logs print request and response headers).

Always scrub before cutting a message short: cutting first can leave a key's prefix that no longer matches.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any, Iterable

MASK = "***"
SECRET_ENV_VARS = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "OPENAI_API_KEY")
_MIN_LENGTH = 4  # shorter values would mask ordinary words
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@")

_lock = threading.Lock()
_secrets: set[str] = set()


def register(*secrets: str | None) -> None:
    """Scrub these values from now on (empty and very short values are ignored)."""
    with _lock:
        _secrets.update(s for s in secrets if s and len(s) >= _MIN_LENGTH)


def register_environment(names: Iterable[str] = SECRET_ENV_VARS) -> None:
    """Register the values of the usual secret-holding environment variables."""
    register(*(os.environ.get(name) for name in names))


def known() -> list[str]:
    """The registered secrets, longest first (so a secret containing another is masked whole)."""
    with _lock:
        return sorted(_secrets, key=len, reverse=True)


def redact_url(url: str) -> str:
    """`url` with its userinfo (`user:password@`) shown as `***@`."""
    return _USERINFO.sub(lambda m: m.group(1) + MASK + "@", url)


def mask(text: str, extra: Iterable[str | None] = ()) -> str:
    """`text` with every registered secret and every value in `extra` replaced by `***` (nothing else)."""
    secrets = known() + sorted((s for s in extra if s and len(s) >= _MIN_LENGTH), key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def scrub(text: str, extra: Iterable[str | None] = ()) -> str:
    """`text` with every registered secret, every value in `extra` and every URL userinfo replaced by `***`."""
    return redact_url(mask(text, extra))


def scrub_and_cut(text: str, limit: int, extra: Iterable[str | None] = ()) -> str:
    """Scrub, then cut to `limit` characters (in that order)."""
    text = scrub(text, extra)
    return text if len(text) <= limit else text[:limit] + "..."


def _scrubbed_record(record: logging.LogRecord) -> logging.LogRecord:
    try:
        message = record.getMessage()
    except Exception:  # a malformed log call: let the handler report it as usual
        return record
    clean = scrub(message)
    if clean != message:
        record.msg, record.args = clean, None
    return record


_installed = False


def install_log_scrubbing() -> None:
    """Scrub every log record as it is created, for every logger (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return _scrubbed_record(previous(*args, **kwargs))

    logging.setLogRecordFactory(factory)
