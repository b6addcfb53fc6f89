"""The one error boundary every command runs inside: expected errors become one line and an exit code.

Exit codes: 0 success; 1 a run failed (the line ends with "re-run the same command to resume" or
"not resumable: ..."); 2 bad input (config, data file, URL, missing or corrupt model or checkpoint, bad
options). Expected errors are `envs.errors.InputError` / `RunError` (ConfigError is an InputError), click's
own errors, and OS errors about a named file. Anything else, a plain `ValueError` included, is a bug: it
keeps its traceback (exit 1).
`-v` prints the traceback of expected errors too. Every message is scrubbed of secrets.

With `--json`, stdout holds exactly one JSON document whatever happens: the command's result, or
`{"error": "...", "exit_code": N}`. While the command runs, stdout (the Python object and, in a real
process, file descriptor 1) points at stderr, so whatever libraries print lands there.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import traceback
from typing import Any, Iterator

import click

from envs.errors import InputError, RunError
from envs.secrets import scrub

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2
_FILE_ERRORS = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError, FileExistsError)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def classify(error: BaseException) -> tuple[int, str] | None:
    """(exit code, one-line message) for an expected error; None for a bug (which keeps its traceback)."""
    if isinstance(error, RunError):
        return EXIT_RUN_FAILED, f"{_first_line(error)} ({error.hint()})"
    if isinstance(error, InputError):
        return EXIT_BAD_INPUT, _first_line(error)
    if isinstance(error, click.ClickException):
        return error.exit_code, error.format_message()
    if isinstance(error, click.exceptions.Exit):
        return error.exit_code, ""
    if isinstance(error, SystemExit):  # sys.exit() in a command or a library
        return (error.code, "") if isinstance(error.code, int) else (EXIT_RUN_FAILED, str(error.code or ""))
    if isinstance(error, click.Abort):
        return EXIT_RUN_FAILED, "aborted"
    if isinstance(error, FileNotFoundError) or (isinstance(error, _FILE_ERRORS) and error.filename is not None):
        return EXIT_BAD_INPUT, _first_line(error)
    return None


class JsonStdout:
    """While active, stdout goes to stderr; `emit` keeps the result, `close` writes one document to stdout."""

    def __init__(self) -> None:
        self.result: Any = None
        self.has_result = False
        self._stdout = sys.stdout
        self._saved_fd: int | None = None

    def emit(self, payload: Any) -> None:
        self.result, self.has_result = payload, True

    def __enter__(self) -> "JsonStdout":
        self._stdout.flush()
        try:
            real_fd = self._stdout.fileno()
        except (AttributeError, OSError, ValueError):  # a test runner's in-memory stdout
            real_fd = None
        if real_fd is not None:
            sys.stderr.flush()
            self._saved_fd = os.dup(real_fd)
            os.dup2(sys.stderr.fileno(), real_fd)
        sys.stdout = sys.stderr
        return self

    def __exit__(self, *exc: Any) -> None:
        sys.stdout.flush()
        sys.stdout = self._stdout
        if self._saved_fd is not None:
            os.dup2(self._saved_fd, self._stdout.fileno())
            os.close(self._saved_fd)
            self._saved_fd = None

    def write(self, payload: Any) -> None:
        """Write `payload` as the one JSON document on the real stdout."""
        self._stdout.write(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")
        self._stdout.flush()


def wants_json(args: list[str]) -> bool:
    """Whether the raw command-line arguments ask for `--json` (before any `--`), and not for help."""
    if "--" in args:
        args = args[: args.index("--")]
    return "--json" in args and not {"--help", "-h"} & set(args)


def _report(error: BaseException, code: int, message: str, verbose: int, sink: JsonStdout | None) -> None:
    if verbose and not isinstance(error, (click.ClickException, click.exceptions.Exit)):
        click.echo(scrub("".join(traceback.format_exception(error))).rstrip(), err=True)
    if message:
        click.echo(f"Error: {scrub(message)}", err=True)
    if sink is not None:
        sink.write({"error": scrub(message or f"exit status {code}"), "exit_code": code})


@contextlib.contextmanager
def error_boundary(verbose: int = 0, json_mode: bool = False) -> Iterator[JsonStdout | None]:
    """Run a command: expected errors -> one line (and a JSON error document) and their exit code."""
    sink = JsonStdout() if json_mode else None
    try:
        with sink if sink is not None else contextlib.nullcontext():
            yield sink
    except click.UsageError as error:
        if sink is not None:
            sink.write({"error": scrub(error.format_message()), "exit_code": error.exit_code})
        raise
    except BaseException as error:
        if isinstance(error, click.exceptions.Exit) and error.exit_code == 0 or (
                isinstance(error, SystemExit) and error.code in (0, None)):
            raise
        verdict = classify(error)
        if verdict is None:
            if sink is not None and not isinstance(error, KeyboardInterrupt):
                sink.write({"error": scrub(f"internal error: {type(error).__name__}: {_first_line(error)}"),
                            "exit_code": EXIT_RUN_FAILED})
            raise
        code, message = verdict
        _report(error, code, message, verbose, sink)
        raise click.exceptions.Exit(code) from None
    else:
        if sink is not None and sink.has_result:
            sink.write(sink.result)


def scrubbing_excepthook(kind: type[BaseException], error: BaseException, tb: Any) -> None:
    """The default traceback, scrubbed of secrets (for the errors the boundary lets through)."""
    sys.stderr.write(scrub("".join(traceback.format_exception(kind, error, tb))))
    sys.stderr.flush()
