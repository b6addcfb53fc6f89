"""The errors a user can act on, shared by every package (envs is the bottom of the dependency chain).

- `InputError` (a `ValueError`): the user's input is wrong - a config, a data file, a URL, a model or a
  checkpoint that is missing or corrupt. The message names the thing and says what to do; the CLI prints it
  as one line and exits 2.
- `RunError` (a `RuntimeError`): a run that started has failed. `resumable` says whether re-running the same
  command continues it (the CLI says so, or prints `not_resumable_because`); the CLI exits 1.

Validation raises `InputError` (or one of its subclasses below), never a plain `ValueError`: anything else,
a plain `ValueError` included, is a bug and keeps its traceback. The CLI maps these types to exit codes in
`sftvsrl_cli.errors`; library code raises them without importing the CLI.
"""

from __future__ import annotations


class SftvsrlError(Exception):
    """An expected error: its message alone tells the user what is wrong."""


class InputError(SftvsrlError, ValueError):
    """Bad input from the user (exit 2)."""


class DataFileError(InputError):
    """A data file (SFT records, routes, a log) that cannot be read or is malformed."""


class UrlError(InputError):
    """A malformed URL; the message shows it with any userinfo replaced by `***`."""


class ModelLoadError(InputError):
    """A model that is missing (offline, not downloaded) or corrupt (bad config.json, missing weights)."""


class CheckpointError(InputError):
    """A training checkpoint that is incomplete or corrupt."""


class RunError(SftvsrlError, RuntimeError):
    """A run that failed part-way (exit 1); `resumable` says whether re-running the same command continues it."""

    def __init__(self, message: str, *, resumable: bool, not_resumable_because: str = "") -> None:
        super().__init__(message)
        self.resumable = resumable
        self.not_resumable_because = not_resumable_because

    def hint(self) -> str:
        """What the user can do next, as the end of the error line."""
        if self.resumable:
            return "re-run the same command to resume"
        return f"not resumable: {self.not_resumable_because or 'fix the cause and start again'}"
