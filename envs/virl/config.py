"""Keyword arguments of the V-IRL navigation environment, under the published names.

`platform_cfg` is the published nested mapping; the environment reads `OFFLINE.PANORAMA_DIR`,
`OFFLINE.GPS_TO_PANO_PATH`, `OFFLINE.MAPPING_RADIUS` (or a top-level `MAPPING_RADIUS`) and
`STREET_VIEW.{SIZE, FOV, PITCH}`; its other keys (`ENABLED`, `SOURCE`, `HEADING`, online-API settings) are
accepted and ignored, as are `navigator_cfg` and `platform_save_dir`. Nothing is ever fetched online.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from envs.errors import InputError

DEFAULT_MAPPING_RADIUS_M = 20.0
DEFAULT_VIEW_SIZE = (640, 640)
DEFAULT_FOV = 90.0
DEFAULT_PITCH = 0.0


@dataclass
class VirlConfig:
    route_info_path: str = ""
    """The route file (`route_infos.json`, published format)."""
    absolute_action: bool = True
    """8 compass headings (training / ID) when True; left/right/slightly left/slightly right (rule OOD) when False."""
    relocation: bool = True
    """Snap the start, anchors and interpolated points to the nearest panorama within the mapping radius."""
    drop_rate: float = 0.5
    """Probability of dropping each interpolated point between two anchors."""
    straight_line_length: int = 5
    """Interpolated candidates per segment between anchors."""
    resolution: int = 1200
    """Side of each of the four views in the V-IRL-VL grid (the grid is 2*resolution+5 pixels square)."""
    verify_iter: int = 2
    """Scored attempts per rail point; the next call returns -1 and truncates."""
    language_only: bool = True
    """V-IRL-L (text observation) when True, V-IRL-VL (street-view grid) when False."""
    platform_cfg: dict[str, Any] = field(default_factory=dict)
    """Published nested mapping: OFFLINE.{PANORAMA_DIR, GPS_TO_PANO_PATH, MAPPING_RADIUS}, STREET_VIEW.{SIZE, FOV, PITCH}."""
    navigator_cfg: dict[str, Any] | None = None
    """Published key of the legacy navigator, accepted and unused."""
    platform_save_dir: str | None = None
    """Published key (a cache folder of the online platform), accepted and unused."""
    view_layout: Literal["published", "cardinal"] = "published"
    """Grid headings: "published" (-135, -45, +45, +135) or "cardinal" (front, right, back, left)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.drop_rate <= 1.0:
            raise InputError(f"drop_rate must be within [0, 1], got {self.drop_rate}")
        if self.straight_line_length < 1:
            raise InputError(f"straight_line_length must be at least 1, got {self.straight_line_length}")
        if self.verify_iter < 0:
            raise InputError(f"verify_iter must be 0 or more, got {self.verify_iter}")
        if self.resolution < 16:
            raise InputError(f"resolution must be at least 16 pixels, got {self.resolution}")
        if not isinstance(self.platform_cfg, dict):
            raise InputError("platform_cfg must be a mapping")
        self.platform = PlatformSettings.from_mapping(self.platform_cfg)


@dataclass(frozen=True)
class PlatformSettings:
    panorama_dir: str | None
    mapping_path: str | None
    mapping_radius: float
    view_size: tuple[int, int]
    fov: float
    pitch: float

    @classmethod
    def from_mapping(cls, cfg: dict[str, Any]) -> "PlatformSettings":
        offline = _section(cfg, "OFFLINE")
        street_view = _section(cfg, "STREET_VIEW")
        radius = offline.get("MAPPING_RADIUS", cfg.get("MAPPING_RADIUS", DEFAULT_MAPPING_RADIUS_M))
        size = street_view.get("SIZE", DEFAULT_VIEW_SIZE)
        if not isinstance(size, (list, tuple)) or len(size) != 2 or not all(_is_int(s) and s >= 8 for s in size):
            raise InputError(f"platform_cfg.STREET_VIEW.SIZE must be [width, height] in pixels, got {size!r}")
        fov = _number(street_view.get("FOV", DEFAULT_FOV), "platform_cfg.STREET_VIEW.FOV")
        if not 1 <= fov <= 179:
            raise InputError(f"platform_cfg.STREET_VIEW.FOV must be within [1, 179] degrees, got {fov}")
        pitch = _number(street_view.get("PITCH", DEFAULT_PITCH), "platform_cfg.STREET_VIEW.PITCH")
        radius = _number(radius, "platform_cfg.OFFLINE.MAPPING_RADIUS")
        if radius <= 0:
            raise InputError(f"platform_cfg.OFFLINE.MAPPING_RADIUS must be positive, got {radius}")
        return cls(
            _path(offline.get("PANORAMA_DIR")),
            _path(offline.get("GPS_TO_PANO_PATH")),
            radius,
            (int(size[0]), int(size[1])),
            fov,
            pitch,
        )


def _section(cfg: dict[str, Any], name: str) -> dict[str, Any]:
    value = cfg.get(name) or {}
    if not isinstance(value, dict):
        raise InputError(f"platform_cfg.{name} must be a mapping, got {type(value).__name__}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{name} must be a number, got {value!r}")
    return float(value)


def _path(value: Any) -> str | None:
    """A configured path; the published placeholders 'None' and '' mean unset."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        return None
    return str(value)
