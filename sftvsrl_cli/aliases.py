"""One set of option names across commands, with the old spellings accepted for one release.

The unified names: `--out` (every output folder), `--task gp-l|gp-vl|virl-l|virl-vl`, `--resume`, `--overwrite`,
`--max-new-tokens`. Old spellings (`--output-dir`, `--local-dir`, `--max-tokens`, `--env X --variant Y`) are
rewritten before click parses the command line, with one deprecation line on stderr each.
"""

from __future__ import annotations

from typing import Callable, Sequence

import click

RENAMED = {"--output-dir": "--out", "--local-dir": "--out", "--max-tokens": "--max-new-tokens"}
REMOVED_IN = "the next release"


def translate(args: Sequence[str], known: set[str], warn: Callable[[str], None]) -> list[str]:
    """`args` with old spellings replaced by the unified ones `known` to the command (its option names)."""
    result: list[str] = []
    env = variant = None
    i = 0
    while i < len(args):
        token = args[i]
        name, eq, value = token.partition("=")
        if token == "--":
            result.extend(args[i:])
            break
        if name in RENAMED and RENAMED[name] in known:
            warn(f"{name} is deprecated; use {RENAMED[name]} (the old spelling goes in {REMOVED_IN})")
            result.append(RENAMED[name] + eq + value)
        elif name in ("--env", "--variant") and "--task" in known and "--env" not in known:
            if not eq:
                if i + 1 >= len(args):
                    raise click.UsageError(f"option {name} requires an argument")
                i += 1
                value = args[i]
            if name == "--env":
                env = value
            else:
                variant = value
        else:
            result.append(token)
        i += 1
    if env is not None or variant is not None:
        if any(t == "--task" or t.startswith("--task=") for t in result):
            raise click.UsageError("--task and --env/--variant both given; use --task alone (e.g. --task gp-l)")
        task = f"{env or 'gp'}-{variant or 'l'}"
        old = " ".join(f"--{k} {v}" for k, v in (("env", env), ("variant", variant)) if v is not None)
        warn(f"{old} is deprecated; use --task {task} (the old spelling goes in {REMOVED_IN})")
        result = ["--task", task, *result]
    return result


class UnifiedCommand(click.Command):
    """A command that accepts the deprecated option spellings (see module docstring)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        known = {opt for param in self.params for opt in getattr(param, "opts", [])}
        warn = lambda message: click.echo(f"Warning: {message}", err=True)  # noqa: E731
        return super().parse_args(ctx, translate(args, known, warn))
