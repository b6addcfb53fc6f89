"""Moved to `trainers.config.coerce`; this alias goes in the next release."""

import sys

import trainers.config.coerce as _moved

sys.modules[__name__] = _moved
