"""Prompt templates shared by the environments: load a template file and fill its `{variable}` slots.

Only `{name}` slots whose name is a known variable are replaced; every other brace (the JSON skeleton in the
output section) stays as written, so templates need no escaping. Unknown slot names are an error, caught when
the template is loaded rather than when the first episode renders.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Mapping

from envs.errors import DataFileError

_SLOT = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class TemplateError(DataFileError):
    """A prompt template that cannot be used, named in one line."""


def load_template(path: str | Path, variables: Iterable[str]) -> str:
    """Read a user template and check that every `{slot}` names one of `variables`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise TemplateError(f"cannot read prompt template {path}: {error}") from None
    known = set(variables)
    unknown = sorted({name for name in _SLOT.findall(text) if name not in known})
    if unknown:
        raise TemplateError(
            f"prompt template {path} uses unknown variable(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return text


def fill_template(template: str, values: Mapping[str, object]) -> str:
    """Replace `{name}` slots that name a value; leave every other brace alone."""
    return _SLOT.sub(lambda m: str(values[m.group(1)]) if m.group(1) in values else m.group(0), template)


FEEDBACK_TEMPLATE = "You failed this trial because {reason}. Please try again in the same format."


def feedback_message(verify_info: str) -> str:
    """The user turn that tells the model why its last attempt failed (the paper's verifier message)."""
    return fill_template(FEEDBACK_TEMPLATE, {"reason": verify_info})
