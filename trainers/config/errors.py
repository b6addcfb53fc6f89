"""The one exception type for bad configuration, and the 'did you mean' helper its messages use.

`ConfigError` is an `envs.errors.InputError` (so still a `ValueError`): the CLI prints it as one line, exit 2.
"""

from __future__ import annotations

import difflib
from typing import Iterable

from envs.errors import InputError


class ConfigError(InputError):
    """A configuration problem, described in one line that names the offending key, file or value."""


def suggestion(name: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest candidate, or '' when nothing is close."""
    matches = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
