"""Terminal output for every command: rich tables and progress on a TTY, plain text or JSON otherwise.

Results go to stdout; progress, logs and messages go to stderr, so `--json` output can be piped.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table


@dataclass
class Output:
    """Where and how a command reports. Created once by the root group and passed down in `ctx.obj`."""

    verbose: int = 0
    quiet: bool = False
    json_mode: bool = False
    stdout: Console = field(default_factory=lambda: Console(file=sys.stdout, soft_wrap=True))
    stderr: Console = field(default_factory=lambda: Console(file=sys.stderr, soft_wrap=True))

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
                table.add_row(*(str(cell) for cell in row))
            self.stdout.print(table)
        else:
            sys.stdout.write(title + "\n" + "\t".join(columns) + "\n")
            for row in rows:
                sys.stdout.write("\t".join(str(cell) for cell in row) + "\n")
            sys.stdout.flush()

    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator["ProgressHandle"]:
        """A progress bar on stderr when it is a TTY; a no-op otherwise."""
        if not self.fancy:
            yield ProgressHandle(None, None)
            return
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.stderr, transient=False) as progress:
            task_id = progress.add_task(description, total=total)
            yield ProgressHandle(progress, task_id)


@dataclass
class ProgressHandle:
    """Advances one progress bar; silently does nothing when progress display is off."""

    progress: Progress | None
    task_id: Any

    def advance(self, amount: int = 1, **fields: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task_id, advance=amount, **fields)
