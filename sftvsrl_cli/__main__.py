"""Allows `python -m sftvsrl_cli`."""

from sftvsrl_cli.main import cli

cli()
