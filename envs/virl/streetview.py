"""Street views from offline equirectangular panoramas, and the 2x2 grid of the V-IRL-VL observation.

A panorama folder holds `{pano_id}.jpg` (2:1 equirectangular, zenith at the top row) and
`{pano_id}.metadata.json` whose `rotation` places north: compass heading h is at column fraction
((h + rotation) / 360) mod 1, increasing clockwise. A view of `fov` degrees, `pitch` (positive looks up) and
`size` pixels is a pinhole projection sampled bilinearly with horizontal wrap-around. The ray geometry is
computed once per (size, fov, pitch, panorama shape); a heading only shifts longitudes, so one view costs a
few vectorised gathers. Decoded panoramas are kept in a small LRU cache.

Grid layouts (virl-data.md Q1): "published" centres the four views at heading -135, -45, +45, +135 (what the
published renderer does: top-left looks left-behind, top-right left-front, bottom-left right-front,
bottom-right right-behind); "cardinal" centres them at front, right, back, left (what the paper and the
published prompt describe).
"""

from __future__ import annotations

import functools
import json
import math
from collections import OrderedDict
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

GridLayout = Literal["published", "cardinal"]
GRID_OFFSETS: dict[str, tuple[float, float, float, float]] = {
    "published": (-135.0, -45.0, 45.0, 135.0),
    "cardinal": (0.0, 90.0, 180.0, 270.0),
}
GRID_DESCRIPTIONS: dict[str, str] = {
    "published": "[left behind, left front,\n right front, right behind]",
    "cardinal": "[front, right,\n back, left]",
}
SEPARATOR_PX = 5


class StreetViewError(FileNotFoundError):
    """A panorama (image or metadata) that is missing or unreadable, named in one line."""


@functools.lru_cache(maxsize=16)
def _ray_table(width: int, height: int, fov: float, pitch: float, pano_h: int, pano_w: int):
    """Per view pixel: longitude (fraction of a turn from the view centre), and the heading-independent row
    part of the bilinear lookup (flat offsets of the two rows and the vertical weight)."""
    focal = 0.5 * width / math.tan(math.radians(fov) / 2)
    u = (np.arange(width, dtype=np.float64) - (width - 1) / 2) / focal
    v = ((height - 1) / 2 - np.arange(height, dtype=np.float64)) / focal
    x, y = np.meshgrid(u, v)
    z = np.ones_like(x)
    p = math.radians(pitch)
    y_r = y * math.cos(p) + z * math.sin(p)
    z_r = -y * math.sin(p) + z * math.cos(p)
    lon_fraction = (np.arctan2(x, z_r) / (2 * math.pi)).ravel()
    lat = np.arctan2(y_r, np.hypot(x, z_r)).ravel()
    rows = np.clip((0.5 - lat / math.pi) * pano_h - 0.5, 0, pano_h - 1)
    y0 = np.floor(rows).astype(np.int64)
    y1 = np.minimum(y0 + 1, pano_h - 1)
    fy = (rows - y0).astype(np.float32)[:, None]
    return lon_fraction, y0 * pano_w, y1 * pano_w, fy


def perspective_view(
    panorama: np.ndarray, rotation: float, heading: float, fov: float, pitch: float, size: tuple[int, int]
) -> np.ndarray:
    """The (size[1], size[0], 3) uint8 view centred at compass `heading`."""
    pano_h, pano_w = panorama.shape[:2]
    width, height = size
    lon_fraction, row0, row1, fy = _ray_table(width, height, float(fov), float(pitch), pano_h, pano_w)
    columns = np.mod(lon_fraction + ((heading + rotation) % 360) / 360, 1.0) * pano_w - 0.5
    x0 = np.floor(columns)
    fx = (columns - x0).astype(np.float32)[:, None]
    x0 = x0.astype(np.int64) % pano_w
    x1 = x0 + 1
    x1[x1 == pano_w] = 0
    flat = panorama.reshape(-1, panorama.shape[2])
    p00, p01 = np.take(flat, row0 + x0, axis=0), np.take(flat, row0 + x1, axis=0)
    p10, p11 = np.take(flat, row1 + x0, axis=0), np.take(flat, row1 + x1, axis=0)
    top = p00 + (p01.astype(np.float32) - p00) * fx
    bottom = p10 + (p11.astype(np.float32) - p10) * fx
    view = top + (bottom - top) * fy + 0.5
    return np.clip(view, 0, 255).astype(np.uint8).reshape(height, width, -1)


def compose_grid(views: list[np.ndarray], resolution: int) -> np.ndarray:
    """Four views resized to resolution^2, pasted TL, TR, BL, BR on black with 5 px separators."""
    side = 2 * resolution + SEPARATOR_PX
    canvas = np.zeros((side, side, 3), dtype=np.uint8)
    for i, view in enumerate(views):
        image = Image.fromarray(view)
        if image.size != (resolution, resolution):
            image = image.resize((resolution, resolution), Image.Resampling.BICUBIC)
        x = (i % 2) * (resolution + SEPARATOR_PX)
        y = (i // 2) * (resolution + SEPARATOR_PX)
        canvas[y : y + resolution, x : x + resolution] = np.asarray(image)
    return canvas


def grid_headings(heading: float, layout: str) -> list[float]:
    return [(heading + offset) % 360 for offset in GRID_OFFSETS[layout]]


class PanoramaStore:
    """Reads panoramas and their north rotation from a folder, with an LRU cache of decoded images."""

    def __init__(self, panorama_dir: str | Path, cache_size: int = 12):
        self.directory = Path(panorama_dir)
        if not self.directory.is_dir():
            raise StreetViewError(f"street view folder not found: {self.directory}")
        self._cache: OrderedDict[str, tuple[np.ndarray, float]] = OrderedDict()
        self._cache_size = cache_size

    def load(self, pano_id: str, context: str = "") -> tuple[np.ndarray, float]:
        """(RGB uint8 panorama, rotation in degrees); `context` names the route point in errors."""
        if pano_id in self._cache:
            self._cache.move_to_end(pano_id)
            return self._cache[pano_id]
        where = f" ({context})" if context else ""
        image_path = self.directory / f"{pano_id}.jpg"
        meta_path = self.directory / f"{pano_id}.metadata.json"
        try:
            with Image.open(image_path) as image:
                panorama = np.asarray(image.convert("RGB"))
        except FileNotFoundError:
            raise StreetViewError(f"street view of panorama {pano_id}{where} not found: {image_path}") from None
        except (OSError, ValueError) as error:
            raise StreetViewError(f"street view of panorama {pano_id}{where} is unreadable: {image_path}: {error}") from None
        try:
            rotation = float(json.loads(meta_path.read_text(encoding="utf-8"))["rotation"])
        except FileNotFoundError:
            raise StreetViewError(f"metadata of panorama {pano_id}{where} not found: {meta_path}") from None
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise StreetViewError(f"metadata of panorama {pano_id}{where} has no numeric 'rotation': {meta_path} ({error})") from None
        self._cache[pano_id] = (panorama, rotation)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return panorama, rotation


class StreetViewRenderer:
    """The 2x2 street-view grid at a panorama and heading (the V-IRL-VL observation)."""

    def __init__(self, store: PanoramaStore, size: tuple[int, int], fov: float, pitch: float, resolution: int,
                 layout: GridLayout = "published"):
        self.store = store
        self.size = size
        self.fov = fov
        self.pitch = pitch
        self.resolution = resolution
        self.layout = layout
        self._last: tuple[tuple[str, float], np.ndarray] | None = None

    def views(self, pano_id: str, heading: float, context: str = "") -> list[np.ndarray]:
        panorama, rotation = self.store.load(pano_id, context)
        return [perspective_view(panorama, rotation, h, self.fov, self.pitch, self.size) for h in grid_headings(heading, self.layout)]

    def grid(self, pano_id: str, heading: float, context: str = "") -> np.ndarray:
        """A fresh array each call; the last grid is cached, as failed attempts re-observe the same point."""
        key = (pano_id, float(heading))
        if self._last is None or self._last[0] != key:
            self._last = (key, compose_grid(self.views(pano_id, heading, context), self.resolution))
        return self._last[1].copy()
