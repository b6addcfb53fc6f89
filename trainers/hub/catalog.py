"""Short names for what the SFTvsRL study published on the Hugging Face Hub, with their sizes and next steps.

`sftvsrl download NAME` and every option that takes a model or V-IRL data accept these names. Sizes are the
published ones (the Hub file listing of `tianzhechu/SFTvsRL_Data`); a size the study never published is None.
"""

from __future__ import annotations

from dataclasses import dataclass

DATA_REPO = "tianzhechu/SFTvsRL_Data"


@dataclass(frozen=True)
class CatalogEntry:
    """One published artefact: a whole hub repository or the part of one selected by `include` globs."""

    name: str
    repo_id: str
    repo_type: str  # "model" or "dataset"
    kind: str  # "model", "sft-data" or "virl-routes"
    description: str
    include: tuple[str, ...] = ()  # allow patterns; empty means the whole repository
    size_bytes: int | None = None  # published total size, when known
    archives: tuple[str, ...] = ()  # zip files (repo paths) unpacked next to themselves after download
    next_step: str = ""  # the command to run with it; {path} is the downloaded folder


_PPO_HINT = "sftvsrl ppo --task {env}-{variant} --model {{path}}"
_SFT_HINT = "SFT data in the LLaVA conversation layout under {{path}}/{folder} (the input of `sftvsrl sft`)"
_ROUTES_HINT = "sftvsrl ppo --task virl-l --model virl-l-init --env_config.route_info_path={name}"

_NYC_SIZE = 2_170_000_000  # "2.17 GB" in the Hub listing
_VLN_MINI_SIZE = 58_600_000  # "58.6 MB" in the Hub listing

CATALOG: dict[str, CatalogEntry] = {
    entry.name: entry
    for entry in (
        CatalogEntry("gp-l-init", "tianzhechu/GP-L-Init", "model", "model",
                     "GP-L Init checkpoint (Llama-3.2-11B-Vision-Instruct after SFT, the RL start point)",
                     next_step=_PPO_HINT.format(env="gp", variant="l")),
        CatalogEntry("gp-vl-init", "tianzhechu/GP-VL-Init", "model", "model",
                     "GP-VL Init checkpoint", next_step=_PPO_HINT.format(env="gp", variant="vl")),
        CatalogEntry("virl-l-init", "tianzhechu/VIRL-L-Init", "model", "model",
                     "V-IRL-L Init checkpoint", next_step=_PPO_HINT.format(env="virl", variant="l")),
        CatalogEntry("virl-vl-init", "tianzhechu/VIRL-VL-Init", "model", "model",
                     "V-IRL-VL Init checkpoint", next_step=_PPO_HINT.format(env="virl", variant="vl")),
        CatalogEntry("data", DATA_REPO, "dataset", "sft-data",
                     "All published data: SFT_Data (gp-l, virl-l) and VIRL_routes (nyc_1k_routes, VLN_mini)",
                     archives=("VIRL_routes/nyc_1k_routes.zip", "VIRL_routes/VLN_mini.zip"),
                     next_step=_ROUTES_HINT.format(name="virl-nyc-1k")),
        CatalogEntry("sft-gp-l", DATA_REPO, "dataset", "sft-data", "Published GP-L SFT data",
                     include=("SFT_Data/gp-l/*", "SFT_data/gp-l/*"),
                     next_step=_SFT_HINT.format(folder="SFT_Data/gp-l")),
        CatalogEntry("sft-virl-l", DATA_REPO, "dataset", "sft-data", "Published V-IRL-L SFT data",
                     include=("SFT_Data/virl-l/*", "SFT_data/virl-l/*"),
                     next_step=_SFT_HINT.format(folder="SFT_Data/virl-l")),
        CatalogEntry("virl-routes", DATA_REPO, "dataset", "virl-routes",
                     "V-IRL routes, street views and GPS-to-panorama maps: nyc_1k_routes and VLN_mini",
                     include=("VIRL_routes/*",), size_bytes=_NYC_SIZE + _VLN_MINI_SIZE,
                     archives=("VIRL_routes/nyc_1k_routes.zip", "VIRL_routes/VLN_mini.zip"),
                     next_step=_ROUTES_HINT.format(name="virl-nyc-1k")),
        CatalogEntry("virl-nyc-1k", DATA_REPO, "dataset", "virl-routes",
                     "nyc_1k_routes only: 1,000 New York routes (training, ID and rule-OOD evaluation)",
                     include=("VIRL_routes/nyc_1k_routes.zip",), size_bytes=_NYC_SIZE,
                     archives=("VIRL_routes/nyc_1k_routes.zip",), next_step=_ROUTES_HINT.format(name="virl-nyc-1k")),
        CatalogEntry("virl-vln-mini", DATA_REPO, "dataset", "virl-routes",
                     "VLN_mini only: 18 routes in nine cities (visual-OOD evaluation)",
                     include=("VIRL_routes/VLN_mini.zip",), size_bytes=_VLN_MINI_SIZE,
                     archives=("VIRL_routes/VLN_mini.zip",), next_step=_ROUTES_HINT.format(name="virl-vln-mini")),
    )
}

# Which extracted archive each V-IRL data name points commands at.
ROUTE_ARCHIVE_FOR_NAME: dict[str, str] = {
    "virl-nyc-1k": "VIRL_routes/nyc_1k_routes.zip",
    "virl-routes": "VIRL_routes/nyc_1k_routes.zip",
    "data": "VIRL_routes/nyc_1k_routes.zip",
    "virl-vln-mini": "VIRL_routes/VLN_mini.zip",
}


def lookup(name: str) -> CatalogEntry | None:
    """The catalog entry for a published name (case-insensitive), or None."""
    return CATALOG.get(name.strip().lower())


def format_size(num_bytes: int | None) -> str:
    """Decimal units as the Hub shows them: 58.6 MB, 2.23 GB; 'unknown' when None."""
    if num_bytes is None:
        return "unknown"
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if num_bytes >= scale:
            return f"{num_bytes / scale:.3g} {unit}"
    return f"{num_bytes} B"
