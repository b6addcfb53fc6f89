"""What is known about each published name without the network, dry-run plans, and next-step hints."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainers.hub.catalog import CATALOG, CatalogEntry
from trainers.hub.fetch import (DownloadRequest, DownloadResult, HubError, describe_error, progress_bars,
                                storage_folder)
from trainers.hub.resolve import cached_snapshot, find_virl_layout
from trainers.hub.settings import hub_cache_dir, hub_endpoint, hub_offline
from trainers.hub.verify import read_cached_listing


@dataclass(frozen=True)
class CatalogRow:
    entry: CatalogEntry
    size_bytes: int | None  # published size, else the size of the downloaded files
    path: Path | None  # the downloaded snapshot, if complete


@dataclass(frozen=True)
class PlannedFile:
    path: str
    size_bytes: int | None
    cached: bool


def catalog_rows() -> list[CatalogRow]:
    """Every published name with its size when known and where it is downloaded (no network access)."""
    rows = []
    for entry in CATALOG.values():
        path = cached_snapshot(entry)
        size = entry.size_bytes
        if size is None and path is not None:
            size = _downloaded_size(entry, path)
        rows.append(CatalogRow(entry, size, path))
    return rows


def _downloaded_size(entry: CatalogEntry, snapshot: Path) -> int | None:
    from huggingface_hub.utils import filter_repo_objects

    folder = storage_folder(hub_cache_dir(), entry.repo_id, entry.repo_type)
    listing = read_cached_listing(folder, snapshot.name)
    if listing is None:
        return None
    names = filter_repo_objects(listing, allow_patterns=list(entry.include) or None)
    return sum(listing[name].size for name in names)


def plan(request: DownloadRequest, show_progress: bool = True) -> list[PlannedFile]:
    """The files a download would fetch, with sizes and whether each is cached already (asks the Hub)."""
    from huggingface_hub import snapshot_download

    offline = hub_offline()
    if offline:
        raise HubError("--dry-run asks the Hub for the file list, but HF_HUB_OFFLINE is set")
    try:
        with progress_bars(show_progress):
            infos = snapshot_download(
                request.repo_id, repo_type=request.repo_type, revision=request.revision, cache_dir=hub_cache_dir(),
                local_dir=request.local_dir, allow_patterns=list(request.include) or None,
                ignore_patterns=list(request.exclude) or None, endpoint=hub_endpoint(), dry_run=True)
    except Exception as error:
        raise HubError(describe_error(error, request, offline, hub_cache_dir())) from None
    return [PlannedFile(info.filename, info.file_size, info.is_cached) for info in sorted(infos,
                                                                                     key=lambda i: i.filename)]


def next_steps(request: DownloadRequest, result: DownloadResult) -> list[str]:
    """The commands (or settings) to use the downloaded files with."""
    lines = []
    entry = request.entry
    for folder in result.extracted:
        try:
            paths = find_virl_layout(folder)
        except (OSError, ValueError) as error:
            lines.append(f"# {folder}: {error}")
            continue
        lines.append(f"--env_config.route_info_path={paths.route_info_path} "
                     f"--env_config.platform_cfg.OFFLINE.GPS_TO_PANO_PATH={paths.gps_to_pano_path} "
                     f"--env_config.platform_cfg.OFFLINE.PANORAMA_DIR={paths.panorama_dir}")
    if entry is not None and entry.next_step and (entry.kind != "virl-routes" or result.extracted):
        lines.append(entry.next_step.format(path=result.path))
    elif entry is None and request.repo_type == "model":
        lines.append(f"sftvsrl ppo --task gp-l --model {result.path}")
    return lines
