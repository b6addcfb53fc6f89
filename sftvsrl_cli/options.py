"""Option decorators shared by subcommands."""

from __future__ import annotations

from typing import Any, Callable

import click


def config_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """`-f/--config FILE` plus trailing dotted overrides such as `--env_config.target_points=24`."""
    command = click.argument("overrides", nargs=-1, type=click.UNPROCESSED, metavar="[--KEY=VALUE]...")(command)
    command = click.option(
        "-f",
        "--config",
        "config_file",
        metavar="FILE",
        help="YAML config (a path, or a packaged name such as gp/rl_gp_l). Overrides: --section.key=value.",
    )(command)
    return command


def seed_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--seed", type=int, default=None, help="Random seed (same seed, same result).")(command)


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("json_", "--json", is_flag=True, help="Print one JSON summary on stdout and nothing else there.")(
        command
    )


OVERRIDE_CONTEXT = {"ignore_unknown_options": True, "allow_extra_args": False}


class CommandError(click.ClickException):
    """A one-line error ("Error: ...") with exit code 2, for bad configs, data and arguments."""

    exit_code = 2


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Kept for the commands that still apply it: errors are now handled once, for every command, by the
    error boundary the root group runs them in (`sftvsrl_cli.errors`)."""
    return command
