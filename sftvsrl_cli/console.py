"""Terminal output for every command: rich tables and progress on a TTY, plain text or JSON otherwise.

Results go to stdout; progress, logs and messages go to stderr, so `--json` output can be piped. When stderr
is not a terminal (cron, Slurm, nohup), progress and stages are timestamped plain lines
(`sftvsrl_cli.plain_progress`), so a log file shows what a run is doing while it runs.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

from sftvsrl_cli.plain_progress import PlainTicker, RetryLog, format_duration, utc_now


@dataclass
class Output:
    """Where and how a command reports. Created once by the root group and passed down in `ctx.obj`."""

    verbose: int = 0
    quiet: bool = False
    json_mode: bool = False
    stdout: Console = field(default_factory=lambda: Console(file=sys.stdout, soft_wrap=True))
    stderr: Console = field(default_factory=lambda: Console(file=sys.stderr, soft_wrap=True))
    _live: Progress | None = field(default=None, repr=False)
    _retry_log: RetryLog | None = field(default=None, repr=False)

    @property
    def fancy(self) -> bool:
        return self.stderr.is_terminal and not self.json_mode and not self.quiet

    def info(self, message: str) -> None:
        """A status line on stderr (suppressed by --quiet)."""
        if not self.quiet:
            self.stderr.print(message, markup=False, highlight=False)

    def result_json(self, payload: Any) -> None:
        """One machine-readable document on stdout."""
        sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
        sys.stdout.flush()

    def table(self, title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """A result table on stdout: boxed on a TTY, tab-separated otherwise."""
        if self.stdout.is_terminal:
            table = Table(title=title)
            for column in columns:
                table.add_column(column)
            for row in rows:
                table.add_row(*(format_cell(cell) for cell in row))
            self.stdout.print(table)
        else:
            sys.stdout.write(title + "\n" + "\t".join(columns) + "\n")
            for row in rows:
                sys.stdout.write("\t".join(format_cell(cell) for cell in row) + "\n")
            sys.stdout.flush()

    @property
    def live_progress(self) -> bool:
        """Rich progress bars: stderr is a terminal and --quiet is off (also with --json: results go to stdout)."""
        return self.stderr.is_terminal and not self.quiet

    def log(self, message: str) -> None:
        """A UTC-timestamped line on stderr (suppressed by --quiet): for logs read after the fact."""
        if not self.quiet:
            self.stderr.print(f"{utc_now()} {message}", markup=False, highlight=False)

    def retry_log(self) -> RetryLog:
        """A callback for clients that retry (`on_retry=`): counts retries, shows them in progress lines and
        logs each cause at most once every 10 s, with a count."""
        if self._retry_log is None:
            self._retry_log = RetryLog(self.event)
        return self._retry_log

    def event(self, text: str) -> None:
        """A line about the run's progress: timestamped when stderr is not a terminal (suppressed by --quiet)."""
        if self.live_progress:
            self.info(text)
        else:
            self.log(text)

    def _flush_retries(self) -> None:
        if self._retry_log is not None:
            self._retry_log.flush()

    def _retries(self) -> int | None:
        return self._retry_log.total if self._retry_log is not None else None

    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator["ProgressHandle"]:
        """Progress on stderr: a rich bar on a terminal; otherwise timestamped lines at start and end and at
        least every 30 s ($SFTVSRL_PROGRESS_INTERVAL) with done/total, rate, ETA and retries so far."""
        if self.quiet or not _main_process():  # under torchrun / DeepSpeed / accelerate only rank 0 reports
            yield ProgressHandle(None, None)
        elif self.live_progress:
            with self._rich_task(description, total) as (progress, task_id):
                yield ProgressHandle(progress, task_id)
        else:
            ticker = PlainTicker(self.log, description, total, self._retries).start()
            try:
                yield ProgressHandle(None, None, ticker)
            except BaseException as error:
                self._flush_retries()
                ticker.stop(error)
                raise
            self._flush_retries()
            ticker.stop()

    @contextmanager
    def stage(self, description: str, live: bool = True) -> Iterator["ProgressHandle"]:
        """A step of unknown length (building a model, an SFT initialisation, a download): a spinner on a
        terminal (`live=False`: a start and an end line, for steps that draw their own bars), timestamped
        start, heartbeat and end lines otherwise."""
        if self.live_progress and not live:
            started = time.monotonic()
            self.info(f"{description} ...")
            yield ProgressHandle(None, None)
            self.info(f"{description}: done in {format_duration(time.monotonic() - started)}")
            return
        with self.progress(description, None) as handle:
            yield handle

    @contextmanager
    def _rich_task(self, description: str, total: int | None) -> Iterator[tuple[Progress, Any]]:
        """A task on the one live rich display (nested progress and stages share it)."""
        if self._live is not None:
            task_id = self._live.add_task(description, total=total)
            try:
                yield self._live, task_id
            finally:
                self._finish_task(self._live, task_id)
            return
        columns = (
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.stderr, transient=False) as progress:
            self._live = progress
            try:
                task_id = progress.add_task(description, total=total)
                yield progress, task_id
                self._finish_task(progress, task_id)
            finally:
                self._live = None

    @staticmethod
    def _finish_task(progress: Progress, task_id: Any) -> None:
        task = next((t for t in progress.tasks if t.id == task_id), None)
        if task is not None and task.total is None:
            progress.update(task_id, total=max(task.completed, 1), completed=max(task.completed, 1))
        progress.stop_task(task_id)


def _main_process() -> bool:
    try:
        return int(os.environ.get("RANK", "0")) == 0
    except ValueError:
        return True


def format_cell(value: Any) -> str:
    """A table cell: `-` for a missing value, floats to 4 significant digits, everything else as text."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "-"
        return f"{value:.4g}"
    return str(value)


@dataclass
class ProgressHandle:
    """Advances one progress bar (or plain ticker); silently does nothing when progress display is off."""

    progress: Progress | None
    task_id: Any
    ticker: PlainTicker | None = None

    def advance(self, amount: int = 1, **fields: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task_id, advance=amount, **fields)
        elif self.ticker is not None:
            self.ticker.advance(amount, **fields)
