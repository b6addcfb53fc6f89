"""Configuration shared by every command: the published YAML schema, file loading and dotted overrides."""

from sftvsrl_cli.config.errors import ConfigError
from sftvsrl_cli.config.loader import build_config, load_config, parse_overrides

__all__ = ["ConfigError", "build_config", "load_config", "parse_overrides"]
