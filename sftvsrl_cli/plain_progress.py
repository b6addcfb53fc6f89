"""Progress for logs that no one watches live (cron, Slurm, nohup): timestamped plain lines on stderr.

A `PlainTicker` prints one line when a task starts, one at least every `progress_interval()` seconds while it
runs (from a background thread, so a step that takes minutes still shows it is alive), and one when it ends:

    2026-11-29T16:50:00Z start episodes (40 to do)
    2026-11-29T16:50:30Z episodes 12/40 (30%) 0.40/s eta 1m10s elapsed 30s retries 3
    2026-11-29T16:51:41Z done episodes 40/40 in 1m41s

`RetryLog` turns a client's retry callbacks into at most one line per cause every `RETRY_LOG_SECONDS`, with
the number of retries of that cause since the last line.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable

PROGRESS_INTERVAL_ENV = "SFTVSRL_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 30.0
RETRY_LOG_SECONDS = 10.0


def utc_now() -> str:
    """UTC ISO time to the second, e.g. `2026-11-29T16:50:00Z`."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def progress_interval() -> float:
    """Seconds between plain progress lines: $SFTVSRL_PROGRESS_INTERVAL, else 30."""
    try:
        value = float(os.environ.get(PROGRESS_INTERVAL_ENV, ""))
    except ValueError:
        return DEFAULT_INTERVAL
    return value if value > 0 else DEFAULT_INTERVAL


def format_duration(seconds: float) -> str:
    """`42s`, `3m05s`, `2h01m`."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class PlainTicker:
    """One task's plain progress lines; `advance` is safe to call from any thread."""

    def __init__(self, emit: Callable[[str], None], description: str, total: int | None,
                 retries: Callable[[], int | None] = lambda: None, interval: float | None = None) -> None:
        self._emit = emit
        self.name = description
        self.description = description
        self.total = total
        self.done = 0
        self._retries = retries
        self.interval = interval or progress_interval()
        self.started = time.monotonic()
        self._base_time, self._base_done = self.started, 0
        self._last_line = self.started
        self._first_advance = True
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._heartbeat, name="sftvsrl-progress", daemon=True)

    def start(self) -> "PlainTicker":
        todo = f" ({self.total} to do)" if self.total is not None else ""
        self._emit(f"start {self.name}{todo}")
        self._thread.start()
        return self

    def advance(self, amount: int = 1, **fields: Any) -> None:
        now = time.monotonic()
        with self._lock:
            self.done += amount
            if fields.get("total") is not None:
                self.total = int(fields["total"])
            if fields.get("description"):
                self.description = str(fields["description"])
            if self._first_advance and amount > 1 and now - self.started < 1.0:
                # a first jump (work resumed from a checkpoint) is not part of the rate
                self._base_time, self._base_done = now, self.done
            self._first_advance = False
            due = now - self._last_line >= self.interval
        if due:
            self._line()

    def _heartbeat(self) -> None:
        while True:
            with self._lock:
                wait = self._last_line + self.interval - time.monotonic()
            if self._stop.wait(max(wait, 0.05)):
                return
            with self._lock:
                due = time.monotonic() - self._last_line >= self.interval
            if due:
                self._line()

    def status(self) -> str:
        """`episodes 12/40 (30%) 0.40/s eta 1m10s elapsed 30s retries 3` (the parts that are known)."""
        now = time.monotonic()
        parts = [self.description]
        if self.total is not None:
            percent = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
            parts.append(f"{self.done}/{self.total}{percent}")
        elif self.done:
            parts.append(str(self.done))
        span, progressed = now - self._base_time, self.done - self._base_done
        if progressed > 0 and span > 0:
            rate = progressed / span
            parts.append(f"{rate:.3g}/s")
            if self.total is not None and self.total >= self.done:
                parts.append(f"eta {format_duration((self.total - self.done) / rate)}")
        parts.append(f"elapsed {format_duration(now - self.started)}")
        retries = self._retries()
        if retries is not None:
            parts.append(f"retries {retries}")
        return " ".join(parts)

    def _line(self) -> None:
        with self._lock:
            self._last_line = time.monotonic()
            text = self.status()
        self._emit(text)

    def stop(self, error: BaseException | None = None) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        elapsed = format_duration(time.monotonic() - self.started)
        count = f" {self.done}/{self.total}" if self.total is not None else ""
        if error is None:
            self._emit(f"done {self.name}{count} in {elapsed}")
        else:
            self._emit(f"stopped {self.name}{count} after {elapsed} ({type(error).__name__})")


class RetryLog:
    """Counts retries and logs them: one line per cause at most every `every` seconds, with a count."""

    def __init__(self, emit: Callable[[str], None], every: float = RETRY_LOG_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._emit = emit
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self.total = 0
        self.by_cause: dict[str, int] = {}
        self._unlogged: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def __call__(self, cause: str, detail: str = "", delay: float | None = None) -> None:
        """Record one retry of `cause` (timeout, connection, malformed body, HTTP 503...)."""
        now = self._clock()
        with self._lock:
            self.total += 1
            self.by_cause[cause] = self.by_cause.get(cause, 0) + 1
            self._unlogged[cause] = self._unlogged.get(cause, 0) + 1
            if cause in self._last and now - self._last[cause] < self._every:
                return
            count, self._unlogged[cause] = self._unlogged[cause], 0
            self._last[cause] = now
        wait = f", retrying in {delay:.1f}s" if delay is not None else ""
        what = f": {detail}" if detail else ""
        self._emit(f"retry ({cause}) x{count} since last report, {self.by_cause[cause]} in all{what}{wait}")

    def flush(self) -> None:
        """Log the retries not yet reported (at the end of a run)."""
        with self._lock:
            pending = {cause: n for cause, n in self._unlogged.items() if n}
            for cause in pending:
                self._unlogged[cause] = 0
        for cause, count in pending.items():
            self._emit(f"retry ({cause}) x{count} since last report, {self.by_cause[cause]} in all")
