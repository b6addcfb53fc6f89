"""The published SFTvsRL checkpoints and data: names, download from the Hugging Face Hub, local resolution."""

from trainers.hub.catalog import CATALOG, CatalogEntry, format_size, lookup
from trainers.hub.fetch import DownloadRequest, DownloadResult, HubError, download, make_request
from trainers.hub.resolve import (NotDownloadedError, VirlDataPaths, apply_virl_data_names, cached_snapshot,
                                  resolve_model_reference, resolve_sft_data_reference, resolve_virl_data)

__all__ = [
    "CATALOG", "CatalogEntry", "DownloadRequest", "DownloadResult", "HubError", "NotDownloadedError",
    "VirlDataPaths", "apply_virl_data_names", "cached_snapshot", "download", "format_size", "lookup",
    "make_request", "resolve_model_reference", "resolve_sft_data_reference", "resolve_virl_data",
]
