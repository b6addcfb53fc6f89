"""Command-line interface of sftvsrl: thin click commands over the library packages."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sftvsrl")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
