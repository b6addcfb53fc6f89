"""Unpack downloaded zip archives (the V-IRL route bundles) next to themselves, safely and only once.

`VIRL_routes/nyc_1k_routes.zip` becomes the folder `VIRL_routes/nyc_1k_routes/`. Members that would land
outside that folder are refused, free disk space is checked first, and the folder appears only once complete
(extraction runs in a temporary sibling that is renamed at the end), so an interrupted run never leaves a
folder that looks finished.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Callable

MARKER = ".sftvsrl-extracted.json"


class ArchiveError(OSError):
    """An archive that cannot be unpacked safely (unsafe member names, bad zip, no space)."""


def extracted_folder(archive: Path) -> Path:
    return archive.with_suffix("")


def is_extracted(archive: Path) -> bool:
    marker = extracted_folder(archive) / MARKER
    try:
        return json.loads(marker.read_text(encoding="utf-8")).get("archive_size") == archive.stat().st_size
    except (OSError, ValueError, AttributeError):
        return False


def extract_archive(archive: Path, advance: Callable[[int], None] = lambda n: None) -> Path:
    """Unpack `archive` into the folder of the same name (skipped when already done); return that folder."""
    target = extracted_folder(archive)
    if is_extracted(archive):
        return target
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            _check_members(archive, members)
            needed = sum(member.file_size for member in members)
            free = shutil.disk_usage(archive.parent).free
            if needed > free:
                raise ArchiveError(f"{archive.name} needs {needed} bytes unpacked but only {free} are free")
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=archive.parent))
            try:
                for member in members:
                    bundle.extract(member, staging)
                    advance(member.file_size)
                content = _single_top_folder(staging, target.name)
                (content / MARKER).write_text(json.dumps({"archive": archive.name,
                                                          "archive_size": archive.stat().st_size,
                                                          "files": len(members)}) + "\n", encoding="utf-8")
                if target.exists():
                    shutil.rmtree(target)
                content.rename(target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except zipfile.BadZipFile as error:
        raise ArchiveError(f"{archive} is not a valid zip file ({error})") from None
    return target


def _check_members(archive: Path, members: list[zipfile.ZipInfo]) -> None:
    for member in members:
        path = PurePosixPath(member.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
            raise ArchiveError(f"{archive.name} holds an unsafe member path {member.filename!r}; not unpacking it")


def _single_top_folder(staging: Path, name: str) -> Path:
    """The folder holding the archive's content: its one top-level folder named `name`, else the staging root."""
    entries = [entry for entry in staging.iterdir() if entry.name != "__MACOSX"]
    if len(entries) == 1 and entries[0].is_dir() and entries[0].name == name:
        return entries[0]
    return staging
