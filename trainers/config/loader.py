"""Load a command's configuration: dataclass defaults, then a YAML file, then command-line overrides.

Overrides use the published launch scripts' form, `--env_config.target_points=24` (or `--key value`); values
are parsed as YAML scalars with `yaml.safe_load`, never evaluated as code.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, Sequence, TypeVar

import yaml

from trainers.config.coerce import to_dataclass
from trainers.config.errors import ConfigError, suggestion
from trainers.config.published_keys import emit, machinery_warnings

# The packaged configs ship as data of the CLI package (sftvsrl_cli/configs), beside this package.
PACKAGED_CONFIGS = Path(__file__).resolve().parents[2] / "sftvsrl_cli" / "configs"
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$")

RAW_KEYS = frozenset({"API_KEY"})
"""Override keys taken as typed, not parsed as YAML: a secret must reach the client whole (YAML would cut it at
` #`) and never be echoed by a type error."""

MAX_NESTING = 64
"""Deepest nesting of mappings and lists a config file may have (the published ones use 3)."""

T = TypeVar("T")


def packaged_config_names() -> list[str]:
    """Names of the configs shipped with the package (`gp/rl_gp_l`, ...), usable with `-f`."""
    return sorted(str(p.relative_to(PACKAGED_CONFIGS).with_suffix("")) for p in PACKAGED_CONFIGS.rglob("*.yaml"))


def resolve_config_path(name: str) -> Path:
    """A config file path, or a packaged config name with or without `.yaml`."""
    path = Path(name).expanduser()
    if path.is_file():
        return path
    for candidate in (PACKAGED_CONFIGS / name, PACKAGED_CONFIGS / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    if path.exists():
        raise ConfigError(f"config path is not a file: {name}")
    hint = suggestion(name.removesuffix(".yaml"), packaged_config_names())
    raise ConfigError(f"config file not found: {name}{hint}")


def load_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping, with errors that name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config file {path}: {error}") from None
    try:
        data = yaml.safe_load(text)
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config (more than {MAX_NESTING} levels)") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where} {problem}") from None
    if data is None:
        return {}
    if _nesting(data) > MAX_NESTING:
        raise ConfigError(f"{path}: nested too deeply to be a config (more than {MAX_NESTING} levels)")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys, got {type(data).__name__}")
    return data


def _nesting(data: Any) -> int:
    """How deeply `data` nests mappings and lists (iteratively: no recursion limit to hit)."""
    deepest, stack = 0, [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > MAX_NESTING:
                return deepest
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def parse_overrides(args: Sequence[str]) -> list[tuple[str, Any]]:
    """Parse `--a.b=v`, `--a.b v` and `a.b=v` into (dotted key, YAML-parsed value) pairs."""
    pairs: list[tuple[str, Any]] = []
    i = 0
    while i < len(args):
        token = args[i]
        body = token[2:] if token.startswith("--") else token
        if "=" in body:
            key, raw = body.split("=", 1)
        elif token.startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("--"):
            key, raw = body, args[i + 1]
            i += 1
        else:
            raise ConfigError(f"override '{token}' has no value; write it as --key=value")
        key = key.replace("-", "_")
        if not _KEY.match(key):
            raise ConfigError(f"override key '{key}' is not a dotted config key")
        pairs.append((key, raw if key in RAW_KEYS else _parse_scalar(key, raw)))
        i += 1
    return pairs


def _parse_scalar(key: str, raw: str) -> Any:
    too_deep = ConfigError(f"override '{key}': nested too deeply (more than {MAX_NESTING} levels)")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except RecursionError:
        raise too_deep from None
    except yaml.YAMLError:
        return raw
    if _nesting(value) > MAX_NESTING:
        raise too_deep
    return value


def apply_overrides(data: dict[str, Any], overrides: Sequence[tuple[str, Any]]) -> dict[str, Any]:
    """A copy of `data` with each dotted key set, creating intermediate mappings as needed."""
    result = copy.deepcopy(data)
    for dotted, value in overrides:
        node = result
        parts = dotted.split(".")
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                prefix = ".".join(parts[: depth + 1])
                raise ConfigError(f"cannot set '{dotted}': '{prefix}' is not a mapping")
            node = child
        node[parts[-1]] = value
    return result


def build_config(cls: type[T], data: dict[str, Any]) -> T:
    """Type-check `data` against `cls`; run its `validate()` when it has one. The config's `explicit_keys`
    holds the dotted keys `data` set (what the user wrote, as opposed to defaults)."""
    config = to_dataclass(cls, data)
    config.explicit_keys = frozenset(_leaf_keys(data))
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()
    return config


def load_config(
    cls: type[T],
    config_file: str | None = None,
    overrides: Sequence[str] = (),
    options: dict[str, Any] | None = None,
    base: dict[str, Any] | None = None,
) -> T:
    """Defaults (+ `base`), then the YAML file, then explicit CLI options (dotted keys), then overrides.

    Published keys that only drove the published code's machinery get one warning line on stderr each when
    set to a value that would have changed the published run (`published_keys`); the lines are kept in the
    config's `config_warnings`."""
    data: dict[str, Any] = copy.deepcopy(base) if base else {}
    if config_file:
        data = _deep_merge(data, load_yaml(resolve_config_path(config_file)))
    if options:
        data = apply_overrides(data, [(k, v) for k, v in options.items() if v is not None])
    data = apply_overrides(data, parse_overrides(overrides))
    config = build_config(cls, data)
    config.config_warnings = machinery_warnings(data)
    emit(config.config_warnings)
    return config


def _leaf_keys(data: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        keys.append(dotted)
        if isinstance(value, dict):
            keys.extend(_leaf_keys(value, dotted + "."))
    return keys


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
