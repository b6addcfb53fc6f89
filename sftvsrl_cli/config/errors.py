"""Moved to `trainers.config.errors`; this alias goes in the next release."""

import sys

import trainers.config.errors as _moved

sys.modules[__name__] = _moved
