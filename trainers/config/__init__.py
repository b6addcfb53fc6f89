"""The config core every package reads: the published YAML schema, its typed sections, file loading and dotted
overrides, and `ConfigError`. It sits in `trainers` (below evaluators and the CLI, above envs) because the
schema's sections are the trainers' settings and `env_config` blocks are checked against the `envs` registry."""

from trainers.config.errors import ConfigError
from trainers.config.loader import build_config, load_config, parse_overrides

__all__ = ["ConfigError", "build_config", "load_config", "parse_overrides"]
