"""`sftvsrl download`: fetch the published Init checkpoints and data (or any hub repository) and say how to use them."""

from __future__ import annotations

from pathlib import Path

import click

from sftvsrl_cli.aliases import UnifiedCommand
from sftvsrl_cli.console import Output
from sftvsrl_cli.options import CommandError, friendly_errors, json_option, seed_option


@click.command("download", cls=UnifiedCommand)
@click.argument("names", nargs=-1, metavar="[NAME|OWNER/REPO]...")
@click.option("--list", "list_", is_flag=True, help="Show the published names, their sizes and what is downloaded.")
@click.option("--repo-type", type=click.Choice(["model", "dataset"]), default=None,
              help="Type of an OWNER/REPO argument (default: model).")
@click.option("--revision", default=None, help="Branch, tag or commit (default: main).")
@click.option("--include", multiple=True, metavar="GLOB", help="Only files matching this glob (repeatable).")
@click.option("--exclude", multiple=True, metavar="GLOB", help="Skip files matching this glob (repeatable).")
@click.option("--out", "local_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Put the files in this folder instead of the Hugging Face cache.")
@click.option("--dry-run", is_flag=True, help="List the files that would be fetched, with sizes, and stop.")
@click.option("--verify-hashes/--sizes-only", default=True, show_default=True,
              help="Check every file's sha256 / git hash, or only its size.")
@click.option("--extract/--no-extract", default=True, show_default=True,
              help="Unpack the V-IRL route archives after downloading.")
@seed_option
@json_option
@click.pass_obj
@friendly_errors
def command(output: Output, names, list_, repo_type, revision, include, exclude, local_dir, dry_run,
            verify_hashes, extract, seed, json_) -> None:
    """Download published checkpoints or data (see --list) or any hub repository, resumably and verified.

    Uses the Hugging Face cache (HF_HOME, HF_HUB_CACHE), HF_TOKEN for private or gated repositories,
    HF_ENDPOINT for a mirror, and HF_HUB_OFFLINE to only look in the cache. A download involves no
    randomness: --seed is accepted, like on every command, and changes nothing.
    """
    from trainers.hub import HubError, download, make_request
    from trainers.hub.status import next_steps, plan

    output.json_mode = json_
    if list_ and names:
        raise click.UsageError("--list shows every published name and takes no NAME; drop one or the other")
    if list_:
        _show_catalog(output, json_)
        return
    if not names:
        raise click.UsageError("give a NAME or OWNER/REPO to download, or --list to see the published names")
    if local_dir is not None and len(names) > 1:
        raise click.UsageError("--out takes one NAME at a time")
    summaries = []
    try:
        for name in names:
            request = make_request(name, repo_type=repo_type, revision=revision, include=tuple(include),
                                   exclude=tuple(exclude), local_dir=local_dir, check_hashes=verify_hashes,
                                   extract=extract)
            if dry_run:
                summaries.append(_show_plan(output, name, plan(request, output.fancy), json_))
                continue
            output.info(f"Downloading {name} ({request.repo_id}, {request.repo_type}) ...")
            with output.stage(f"download {name}", live=False):
                result = download(request, show_progress=output.fancy, stage=output.progress)
            steps = next_steps(request, result)
            summaries.append(_show_result(output, name, result, steps, json_))
    except HubError as error:
        raise CommandError(str(error)) from None
    if json_:
        output.result_json(summaries if len(summaries) > 1 else summaries[0])


def _show_catalog(output: Output, json_: bool) -> None:
    from trainers.hub import format_size
    from trainers.hub.status import catalog_rows

    rows = catalog_rows()
    if json_:
        output.result_json([{"name": row.entry.name, "repo_id": row.entry.repo_id, "repo_type": row.entry.repo_type,
                             "include": list(row.entry.include), "size_bytes": row.size_bytes,
                             "description": row.entry.description,
                             "path": str(row.path) if row.path else None} for row in rows])
        return
    output.table("published names (sftvsrl download NAME)", ["name", "repository", "size", "downloaded", "what"],
                 [[row.entry.name, _repo_label(row.entry), format_size(row.size_bytes), row.path or "no",
                   row.entry.description] for row in rows])


def _repo_label(entry) -> str:
    part = f" [{' '.join(entry.include)}]" if entry.include else ""
    return f"{entry.repo_id}{part}"


def _show_plan(output: Output, name: str, files, json_: bool) -> dict:
    from trainers.hub import format_size

    known = [item.size_bytes for item in files if item.size_bytes is not None]
    to_fetch = [item for item in files if not item.cached]
    summary = {"name": name, "files": [{"path": item.path, "size_bytes": item.size_bytes, "cached": item.cached}
                                       for item in files],
               "total_bytes": sum(known), "to_fetch": len(to_fetch)}
    if not json_:
        output.table(f"{name}: {len(files)} files, {format_size(sum(known))}, {len(to_fetch)} to fetch",
                     ["file", "size", "cached"],
                     [[item.path, format_size(item.size_bytes), "yes" if item.cached else "no"] for item in files])
    return summary


def _show_result(output: Output, name: str, result, steps: list[str], json_: bool) -> dict:
    from trainers.hub import format_size

    summary = {"name": name, "repo_id": result.repo_id, "repo_type": result.repo_type, "commit": result.commit,
               "path": str(result.path), "files": result.files, "bytes": result.bytes, "verified": result.verified,
               "offline": result.offline, "extracted": [str(path) for path in result.extracted],
               "next": steps}
    if json_:
        return summary
    state = "verified" if result.verified else "not verified (no file listing available offline)"
    source = "from the cache (offline)" if result.offline else f"at {(result.commit or '?')[:12]}"
    output.info(f"{name}: {result.files} files, {format_size(result.bytes)}, {state}, {source}")
    click.echo(str(result.path))
    for folder in result.extracted:
        output.info(f"unpacked: {folder}")
    if steps:
        output.info("next:")
        for line in steps:
            output.info(f"  {line}")
    return summary
