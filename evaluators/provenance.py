"""Where a result came from: UTC times, package versions, the git commit and the command line (secrets out).

The command line is scrubbed before it is kept: the value of any secret-looking option (`--api-key`,
`--API_KEY`, `--token`, `--password`, ... as `--opt VALUE` or `--opt=VALUE`) becomes `***`, and so does the
userinfo of every URL (`https://user:pass@host` -> `https://***@host`) and every secret registered with
`envs.secrets`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Sequence

MASK = "***"
PACKAGES = ("sftvsrl", "torch", "transformers")
_SECRET_OPTION = re.compile(r"^--?[\w-]*(api[_-]?key|token|password|passwd|secret)$", re.IGNORECASE)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/?#@\s]*@")
_SOURCE_DIR = Path(__file__).resolve().parent.parent


def utc_timestamp() -> str:
    """`2026-11-29T16:50:00.123456+00:00`."""
    return datetime.now(timezone.utc).isoformat()


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """Installed versions (None when a package is not installed); reads metadata, imports nothing."""
    versions: dict[str, str | None] = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(source_dir: Path = _SOURCE_DIR) -> str | None:
    """`git rev-parse HEAD` of the checkout the package runs from; None outside a checkout or without git."""
    if not (source_dir / ".git").exists():
        return None
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source_dir, capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def scrub_argument(text: str) -> str:
    text = _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
    try:
        from envs import secrets
    except ImportError:  # pragma: no cover - older trees without the secrets registry
        return text
    return secrets.scrub(text)


def command_line(argv: Sequence[str] | None = None) -> list[str]:
    """The command as typed (`sys.argv` by default) with secret values masked."""
    argv = list(sys.argv if argv is None else argv)
    if argv:
        argv[0] = Path(argv[0]).name
    scrubbed: list[str] = []
    mask_next = False
    for argument in argv:
        if mask_next:
            scrubbed.append(MASK)
            mask_next = False
            continue
        option, sep, _ = argument.partition("=")
        if _SECRET_OPTION.match(option):
            if sep:
                scrubbed.append(f"{option}={MASK}")
            else:
                scrubbed.append(argument)
                mask_next = True
            continue
        scrubbed.append(scrub_argument(argument))
    return scrubbed


def provenance(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Versions, git commit (when run from a checkout) and the scrubbed command line."""
    record: dict[str, Any] = {"versions": package_versions(), "python": sys.version.split()[0],
                              "command": command_line(argv)}
    commit = git_commit()
    if commit:
        record["git_commit"] = commit
    return record
