"""Moved to `trainers.config.loader`; this alias goes in the next release."""

import sys

import trainers.config.loader as _moved

sys.modules[__name__] = _moved
