"""Option decorators shared by subcommands, and the translation of library errors into one-line CLI errors."""

from __future__ import annotations

import functools
from typing import Any, Callable

import click

from sftvsrl_cli.config import ConfigError


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
    """Turn configuration and data errors raised by the library into a one-line `CommandError`."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (ConfigError, FileNotFoundError, ValueError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise CommandError(message) from None

    return wrapper
