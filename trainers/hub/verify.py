"""Check a downloaded snapshot against the Hub's file listing: every file present, right size, right hash.

LFS files are checked against their sha256, other files against their git blob id (sha1 of "blob <size>\\0" +
content). The listing is the one huggingface_hub cached during the download (`trees/<commit>.json`, a
documented JSON format); when that cache is absent it is fetched from the Hub. A file that fails is removed, so
running the download again fetches it afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class ListedFile:
    path: str
    size: int
    blob_id: str | None
    lfs_sha256: str | None


@dataclass(frozen=True)
class VerifyReport:
    files: int
    bytes: int


class VerificationError(OSError):
    """Files that arrived incomplete or corrupted (they have been removed)."""


def read_cached_listing(tree_cache_folder: Path, commit: str) -> dict[str, ListedFile] | None:
    """The tree listing huggingface_hub cached for `commit`, or None when absent or in an unknown format."""
    path = tree_cache_folder / "trees" / f"{commit}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format_version") != 1:
            return None
        return {name: ListedFile(name, int(info["size"]), info.get("blob_id"), info.get("lfs_sha256"))
                for name, info in data["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def fetch_listing(api, repo_id: str, repo_type: str, commit: str) -> dict[str, ListedFile]:
    """The tree listing from the Hub (used only when huggingface_hub did not cache one)."""
    from huggingface_hub.hf_api import RepoFile

    listing = {}
    for item in api.list_repo_tree(repo_id, recursive=True, revision=commit, repo_type=repo_type):
        if isinstance(item, RepoFile):
            sha256 = item.lfs.sha256 if item.lfs is not None else None
            listing[item.path] = ListedFile(item.path, int(item.size), item.blob_id, sha256)
    return listing


def file_digest(path: Path, listed: ListedFile, advance: Callable[[int], None]) -> tuple[str, str | None]:
    """(actual, expected) digest of a file in the form the listing gives it."""
    if listed.lfs_sha256:
        digest, expected = hashlib.sha256(), listed.lfs_sha256
    else:
        digest, expected = hashlib.sha1(), listed.blob_id
        digest.update(f"blob {path.stat().st_size}\0".encode())
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            advance(len(chunk))
    return digest.hexdigest(), expected


def verify_files(root: Path, listing: dict[str, ListedFile], wanted: Iterable[str],
                 advance: Callable[[int], None] = lambda n: None, check_hashes: bool = True) -> VerifyReport:
    """Check each wanted repo path under `root`; remove and report the files that are missing or wrong."""
    problems: list[str] = []
    total_bytes = 0
    names = sorted(wanted)
    for name in names:
        listed = listing[name]
        path = root / name
        if not path.is_file():
            problems.append(f"{name} is missing")
            continue
        size = path.stat().st_size
        if size != listed.size:
            problems.append(f"{name} has {size} bytes, expected {listed.size}")
            _remove_download(root, name)
            continue
        if check_hashes and (listed.lfs_sha256 or listed.blob_id):
            actual, expected = file_digest(path, listed, advance)
            if actual != expected:
                problems.append(f"{name} has checksum {actual[:12]}..., expected {expected[:12]}...")
                _remove_download(root, name)
                continue
        else:
            advance(size)
        total_bytes += size
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise VerificationError(f"download check failed: {problems[0]}{more}; the bad files were removed, "
                                "run the same command again to fetch them")
    return VerifyReport(files=len(names), bytes=total_bytes)


def _remove_download(root: Path, name: str) -> None:
    """Remove a bad file: the cache blob behind a snapshot link, or a local-dir file and its metadata."""
    path = root / name
    if path.is_symlink():
        target = Path(os.path.realpath(path))
        target.unlink(missing_ok=True)
    path.unlink(missing_ok=True)
    (root / ".cache" / "huggingface" / "download" / f"{name}.metadata").unlink(missing_ok=True)
