"""Turn published names into local paths for every command that takes a model or V-IRL data.

`resolve_model_reference("gp-l-init")` gives the downloaded snapshot folder; a path or any other model id is
returned unchanged (so `tiny-llama` and `owner/name` keep working). `resolve_virl_data("virl-nyc-1k")` gives
the route file, GPS-to-panorama map and street-view folder of the unpacked V-IRL data. Nothing here touches the
network: a name that is not downloaded gets a one-line error with the command that downloads it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envs.errors import InputError
from trainers.hub.archives import extract_archive
from trainers.hub.catalog import ROUTE_ARCHIVE_FOR_NAME, CatalogEntry, format_size, lookup
from trainers.hub.settings import hub_cache_dir, hub_offline

logger = logging.getLogger(__name__)

ROUTE_FILE = "route_infos.json"
GPS_TO_PANO_FILE = "gps_pano_mapping.pkl"
STREET_VIEW_DIR = "street_views"
_MAX_SEARCH_DEPTH = 3


class NotDownloadedError(FileNotFoundError):
    """A published name whose files are not on this machine."""


@dataclass(frozen=True)
class VirlDataPaths:
    route_info_path: Path
    gps_to_pano_path: Path
    panorama_dir: Path


def cached_snapshot(entry: CatalogEntry, revision: str | None = None) -> Path | None:
    """The complete cached snapshot of a catalog entry (its `include` part), or None. No network access."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = snapshot_download(entry.repo_id, repo_type=entry.repo_type, revision=revision,
                                   cache_dir=hub_cache_dir(), allow_patterns=list(entry.include) or None,
                                   local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError):
        return None
    root = Path(folder)
    wanted_files = [path for path in root.rglob("*") if path.is_file()]
    return root if wanted_files else None


def resolve_model_reference(name_or_path: str) -> str:
    """A local snapshot folder for a downloaded published model name; the input unchanged otherwise.

    A published name that is not downloaded resolves to its hub repository id when the Hub may be used
    (transformers then downloads it into the same cache) and raises `NotDownloadedError` under HF_HUB_OFFLINE.
    """
    if Path(name_or_path).expanduser().exists():
        return name_or_path
    entry = lookup(name_or_path)
    if entry is None:
        return name_or_path
    if entry.kind != "model":
        raise InputError(f"{entry.name} is published data, not a model; models: "
                         f"{', '.join(name for name, item in _catalog().items() if item.kind == 'model')}")
    snapshot = cached_snapshot(entry)
    if snapshot is not None:
        return str(snapshot)
    if hub_offline():
        raise NotDownloadedError(f"{entry.name} ({entry.repo_id}) is not downloaded and HF_HUB_OFFLINE is set; "
                                 f"run `sftvsrl download {entry.name}` with network access, or pass a local folder")
    logger.warning("%s is not downloaded yet; fetching %s from the Hub (or run `sftvsrl download %s` first)",
                   entry.name, entry.repo_id, entry.name)
    return entry.repo_id


def resolve_sft_data_reference(name_or_path: str) -> str:
    """The local folder of a downloaded SFT data name (`sft-gp-l`, `sft-virl-l`); the input unchanged otherwise."""
    entry = lookup(name_or_path)
    if Path(name_or_path).expanduser().exists() or entry is None or not entry.name.startswith("sft-"):
        return name_or_path
    snapshot = cached_snapshot(entry)
    folders = [snapshot / pattern.rstrip("/*") for pattern in entry.include] if snapshot is not None else []
    for folder in folders:
        if folder.is_dir():
            return str(folder)
    raise NotDownloadedError(f"{entry.name} is not downloaded; run `sftvsrl download {entry.name}`")


def is_virl_data_name(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in ROUTE_ARCHIVE_FOR_NAME


def resolve_virl_data(name: str) -> VirlDataPaths:
    """The three V-IRL paths of a downloaded data name (unpacking its archive first if needed)."""
    entry = lookup(name)
    if entry is None or not is_virl_data_name(name):
        raise InputError(f"{name!r} is not a V-IRL data name; use one of {', '.join(sorted(ROUTE_ARCHIVE_FOR_NAME))}")
    snapshot = cached_snapshot(entry)
    archive = snapshot / ROUTE_ARCHIVE_FOR_NAME[entry.name] if snapshot is not None else None
    if archive is None or not archive.is_file():
        raise NotDownloadedError(f"{entry.name} is not downloaded; run `sftvsrl download {entry.name}` "
                                 f"({format_size(entry.size_bytes)})")
    folder = extract_archive(archive)
    return find_virl_layout(folder)


def find_virl_layout(folder: Path) -> VirlDataPaths:
    """Locate route_infos.json and its gps_pano_mapping.pkl and street_views/ inside an unpacked folder."""
    candidates = sorted(_walk(folder, ROUTE_FILE), key=lambda path: (len(path.parts), str(path)))
    if not candidates:
        raise FileNotFoundError(f"no {ROUTE_FILE} within {_MAX_SEARCH_DEPTH} levels of {folder}")
    route_file = candidates[0]
    rivals = [str(path) for path in candidates[1:] if len(path.parts) == len(route_file.parts)]
    if rivals:
        raise InputError(f"several {ROUTE_FILE} files in {folder} ({route_file}, {rivals[0]}); "
                         "pass one with --env_config.route_info_path=PATH")
    base = route_file.parent
    gps = base / GPS_TO_PANO_FILE
    views = base / STREET_VIEW_DIR
    missing = [str(path) for path in (gps, views) if not path.exists()]
    if missing:
        raise FileNotFoundError(f"V-IRL data in {base} is incomplete: missing {', '.join(missing)}")
    return VirlDataPaths(route_file, gps, views)


def apply_virl_data_names(env_config: dict[str, Any]) -> dict[str, Any]:
    """A copy of a raw V-IRL env_config mapping with a data name in `route_info_path` turned into paths.

    The GPS-to-panorama map and street-view folder (`platform_cfg.OFFLINE.GPS_TO_PANO_PATH` / `PANORAMA_DIR`)
    are filled in from the same data when they are unset or hold a data name themselves.
    """
    route_value = env_config.get("route_info_path")
    if not is_virl_data_name(route_value):
        return env_config
    paths = resolve_virl_data(route_value)
    resolved = dict(env_config, route_info_path=str(paths.route_info_path))
    platform = dict(resolved.get("platform_cfg") or {})
    offline = dict(platform.get("OFFLINE") or {})
    for key, path in (("GPS_TO_PANO_PATH", paths.gps_to_pano_path), ("PANORAMA_DIR", paths.panorama_dir)):
        if not offline.get(key) or is_virl_data_name(offline.get(key)):
            offline[key] = str(path)
    platform["OFFLINE"] = offline
    resolved["platform_cfg"] = platform
    return resolved


def _walk(folder: Path, filename: str, depth: int = 0):
    if depth > _MAX_SEARCH_DEPTH or not folder.is_dir():
        return
    for child in sorted(folder.iterdir()):
        if child.is_file() and child.name == filename:
            yield child
        elif child.is_dir() and child.name != STREET_VIEW_DIR and not child.name.startswith("."):
            yield from _walk(child, filename, depth + 1)


def _catalog():
    from trainers.hub.catalog import CATALOG

    return CATALOG
