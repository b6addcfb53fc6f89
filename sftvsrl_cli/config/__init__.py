"""Moved to `trainers.config` (the config core every package reads); this alias goes in the next release."""

from trainers.config import *  # noqa: F401,F403
from trainers.config import ConfigError, build_config, load_config, parse_overrides  # noqa: F401
