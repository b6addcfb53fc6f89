"""The CLI surface: version, help on every command, and nothing that pretends to work."""

from __future__ import annotations

from sftvsrl_cli import __version__
from sftvsrl_cli.main import SUBCOMMANDS, cli


def test_version(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_help_lists_the_available_commands(runner):
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in SUBCOMMANDS:
        assert name in result.output


def test_every_subcommand_has_help(runner):
    for name in SUBCOMMANDS:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert "--seed" in result.output, name


def test_unknown_command_exits_2(runner):
    result = runner.invoke(cli, ["does-not-exist"])
    assert result.exit_code == 2
