"""Turn nested plain data (from YAML and overrides) into typed dataclasses, or fail naming the key.

Only what the schemas use is supported: bool, int, float, str, Optional, Literal, list, tuple, dict, Any and
nested dataclasses. Numbers written as strings in YAML (`1e-6` is a string to YAML 1.1) are accepted for
float fields, as the published configs rely on that.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

from trainers.config import unknown_keys
from trainers.config.errors import ConfigError, suggestion

_NONE_TYPE = type(None)


def to_dataclass(cls: type, data: Any, path: str = "") -> Any:
    """Build `cls` from a mapping, checking every key and value type (at the top level, every unknown key of the
    whole tree is reported in one error)."""
    if isinstance(data, cls):
        return data
    if not isinstance(data, dict):
        where = path.rstrip(".") or "config"
        raise ConfigError(f"'{where}' must be a mapping, got {_describe(data)}")
    if not path:
        unknown = unknown_keys.collect(cls, data)
        if unknown:
            raise ConfigError(unknown_keys.message(unknown, cls))
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for key, raw in data.items():
        key = str(key)
        if key not in fields:
            raise ConfigError(unknown_keys.message([unknown_keys.UnknownKey(path, key, tuple(fields))], cls))
        values[key] = coerce(hints[key], raw, f"{path}{key}")
    try:
        return cls(**values)
    except ConfigError:
        raise
    except (TypeError, ValueError) as error:
        raise ConfigError(f"invalid '{path.rstrip('.') or cls.__name__}': {error}") from None


def coerce(annotation: Any, value: Any, path: str) -> Any:
    """Check (and where lossless, convert) one value against a type annotation."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and _NONE_TYPE in args:
            return None
        errors = []
        for option in (a for a in args if a is not _NONE_TYPE):
            try:
                return coerce(option, value, path)
            except ConfigError as error:
                errors.append(error)
        raise errors[0]
    if origin is Literal:
        if value in args:
            return value
        allowed = ", ".join(repr(a) for a in args)
        hint = suggestion(str(value), [str(a) for a in args])
        raise ConfigError(f"'{path}' must be one of {allowed}, got {value!r}{hint}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{path}' must be a list, got {_describe(value)}")
        item_type = args[0] if args else Any
        items = [coerce(item_type, item, f"{path}[{i}]") for i, item in enumerate(value)]
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"'{path}' must be a mapping, got {_describe(value)}")
        value_type = args[1] if len(args) == 2 else Any
        return {str(k): coerce(value_type, v, f"{path}.{k}") for k, v in value.items()}
    if dataclasses.is_dataclass(annotation):
        return to_dataclass(annotation, value, f"{path}.")
    return _coerce_scalar(annotation, value, path)


def _coerce_scalar(annotation: Any, value: Any, path: str) -> Any:
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"'{path}' must be true or false, got {_describe(value)}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"'{path}' must be an integer, got {_describe(value)}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"'{path}' must be a number, got {_describe(value)}")
    if annotation is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"'{path}' must be a string, got {_describe(value)}")
    if isinstance(value, annotation):
        return value
    raise ConfigError(f"'{path}' must be {annotation.__name__}, got {_describe(value)}")


def _describe(value: Any) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"
