"""The `sftvsrl` click group: global options and lazily imported subcommands.

Subcommands live in `sftvsrl_cli/commands/<name>.py`, each exporting `command`. They are imported only when
invoked (or listed by `--help`), so `sftvsrl --help` does not pay for importing torch or transformers.
"""

from __future__ import annotations

import importlib
import logging
import sys

import click

from envs import secrets
from sftvsrl_cli import __version__
from sftvsrl_cli.console import Output
from sftvsrl_cli.errors import error_boundary, scrubbing_excepthook, wants_json

_JSON_SINK = "sftvsrl.json_sink"

# command name -> module under sftvsrl_cli.commands. A command appears here once it really works.
SUBCOMMANDS: dict[str, str] = {
    "download": "download",
    "eval": "eval",
    "eval-api": "eval_api",
    "gen-data": "gen_data",
    "plan": "plan",
    "ppo": "ppo",
    "recog": "recog",
    "report": "report",
    "sft": "sft",
    "study": "study",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = SUBCOMMANDS.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"sftvsrl_cli.commands.{module_name}")
        return module.command

    def invoke(self, ctx: click.Context) -> object:
        """Run the subcommand inside the one error boundary (see `sftvsrl_cli.errors`)."""
        raw_args = [*getattr(ctx, "_protected_args", []), *ctx.args]
        with error_boundary(ctx.params.get("verbose") or 0, wants_json(raw_args)) as sink:
            ctx.meta[_JSON_SINK] = sink
            return super().invoke(ctx)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sftvsrl")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and final results.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Post-train (vision-)language models with SFT or PPO and measure ID vs OOD generalisation."""
    level = logging.ERROR if quiet else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    secrets.register_environment()
    secrets.install_log_scrubbing()
    sys.excepthook = scrubbing_excepthook
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = Output(verbose=verbose, quiet=quiet)
    sink = ctx.meta.get(_JSON_SINK)
    if sink is not None:  # the result document goes to the real stdout once the command has finished
        ctx.obj.result_json = sink.emit  # type: ignore[method-assign]
