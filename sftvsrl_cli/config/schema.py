"""Moved to `trainers.config.schema`; this alias goes in the next release."""

import sys

import trainers.config.schema as _moved

sys.modules[__name__] = _moved
