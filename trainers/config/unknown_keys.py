"""Find every key a config does not have, in one pass, each with a hint only where one is close.

A run reports all its unknown keys at once. Hints: the close spelling in the same section (a strict cutoff, so
`order` does not suggest `model`), else the same name in another section (`temperature` ->
`generation_config.temperature`), else a published launcher's name for one of this project's keys
(`save_steps` -> `sft_config.save_every`, see `published_keys.RENAMED_KEYS`).
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Iterable, Union

from trainers.config.published_keys import RENAMED_KEYS

HINT_CUTOFF = 0.8
"""Similarity a spelling needs to be suggested (difflib ratio): 'targt_points' -> 'target_points' is 0.96,
'order' -> 'model' 0.6 and 'save_steps' -> 'save_ckpt' 0.63 are not close."""


@dataclasses.dataclass(frozen=True)
class UnknownKey:
    section: str
    """Dotted prefix of the mapping holding the key, with a trailing dot ('' at the top level)."""
    key: str
    candidates: tuple[str, ...]
    """The keys that section does accept."""


def dataclass_of(annotation: Any) -> type | None:
    """The dataclass an annotation names, directly or as `X | None`."""
    if dataclasses.is_dataclass(annotation):
        return annotation
    if typing.get_origin(annotation) in (Union, types.UnionType):
        for option in typing.get_args(annotation):
            if dataclasses.is_dataclass(option):
                return option
    return None


def init_fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]


def collect(cls: type, data: Any, section: str = "") -> list[UnknownKey]:
    """Unknown keys of `data` against dataclass `cls`, through nested dataclass sections and the class's own
    `extra_unknown_keys(data, section)` hook (for mappings checked against something else, e.g. env_config)."""
    if not isinstance(data, dict):
        return []
    names = init_fields(cls)
    hints = typing.get_type_hints(cls)
    found: list[UnknownKey] = []
    for key, value in data.items():
        key = str(key)
        if key not in names:
            found.append(UnknownKey(section, key, tuple(names)))
            continue
        nested = dataclass_of(hints[key])
        if nested is not None:
            found.extend(collect(nested, value, f"{section}{key}."))
    extra = getattr(cls, "extra_unknown_keys", None)
    if callable(extra):
        found.extend(extra(data, section))
    return found


def _sections(cls: type) -> dict[str, list[str]]:
    """Top-level keys ('' -> names) and each dataclass section's keys ('name.' -> names) of `cls`."""
    hints = typing.get_type_hints(cls)
    sections = {"": init_fields(cls)}
    for name in init_fields(cls):
        nested = dataclass_of(hints[name])
        if nested is not None:
            sections[f"{name}."] = init_fields(nested)
    return sections


def hint(unknown: UnknownKey, root: type) -> str:
    close = difflib.get_close_matches(unknown.key, list(unknown.candidates), n=1, cutoff=HINT_CUTOFF)
    if close:
        return f" (did you mean '{close[0]}'?)"
    elsewhere = [f"{section}{unknown.key}" for section, names in _sections(root).items()
                 if section != unknown.section and unknown.key in names]
    if len(elsewhere) == 1:
        return f" (did you mean '{elsewhere[0]}'?)"
    if unknown.section == "" and unknown.key in RENAMED_KEYS:
        return f" (this project's key is '{RENAMED_KEYS[unknown.key]}')"
    return ""


def message(unknown: Iterable[UnknownKey], root: type) -> str:
    """One line naming every unknown key with its hint."""
    parts = [f"'{u.section}{u.key}'{hint(u, root)}" for u in unknown]
    if len(parts) == 1:
        return f"unknown config key {parts[0]}"
    return f"unknown config keys ({len(parts)}): {', '.join(parts)}"
