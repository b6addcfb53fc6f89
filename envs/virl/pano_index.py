"""The GPS-to-panorama mapping (`gps_pano_mapping.pkl`) and offline relocation to the nearest panorama.

The published file is a pickle of `{(lat, lng): pano_id}`. Pickles can run code when loaded, so this module
unpickles with an allow-list: plain containers, floats and strings, and numpy scalars (which some writers
produce); anything else is refused with a message naming the file.
"""

from __future__ import annotations

import io
import math
import pickle
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from envs.errors import DataFileError
from envs.virl.geometry import Geocode, haversine_to_many

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "dtype"),
    ("builtins", "tuple"),
    ("builtins", "float"),
    ("builtins", "str"),
    ("builtins", "dict"),
    ("collections", "OrderedDict"),
}


class PanoMappingError(DataFileError):
    """A GPS-to-panorama mapping that cannot be used, named in one line."""


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_pano_mapping(path: str | Path) -> dict[Geocode, str]:
    """Read `{(lat, lng): pano_id}` from a pickle (or a `.json` list of [lat, lng, pano_id] rows)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PanoMappingError(f"GPS-to-panorama mapping not found: {path}") from None
    except OSError as error:
        raise PanoMappingError(f"cannot read GPS-to-panorama mapping {path}: {error}") from None
    try:
        data = _SafeUnpickler(io.BytesIO(raw)).load()
    except Exception as error:  # any malformed pickle: truncated, wrong protocol, refused class
        raise PanoMappingError(f"{path}: not a GPS-to-panorama pickle ({error})") from None
    if not isinstance(data, Mapping) or not data:
        raise PanoMappingError(f"{path}: expected a non-empty dict {{(lat, lng): pano_id}}")
    mapping: dict[Geocode, str] = {}
    for key, pano_id in data.items():
        try:
            lat, lng = (float(v) for v in key)
        except (TypeError, ValueError):
            raise PanoMappingError(f"{path}: key {str(key)[:60]} is not a (lat, lng) pair") from None
        if not (math.isfinite(lat) and math.isfinite(lng)) or not isinstance(pano_id, str) or not pano_id:
            raise PanoMappingError(f"{path}: entry {str(key)[:60]} -> {str(pano_id)[:40]} is not (lat, lng) -> pano id")
        mapping[(lat, lng)] = pano_id
    return mapping


class PanoIndex:
    """Nearest-panorama search over a mapping, with a bounded cache of answered queries."""

    def __init__(self, mapping: Mapping[Geocode, str], source: str = "mapping", cache_size: int = 65_536):
        self.mapping = dict(mapping)
        self.source = source
        self._keys = list(self.mapping)
        self._keys_rad = np.radians(np.asarray(self._keys, dtype=np.float64).reshape(-1, 2))
        self._cache: OrderedDict[tuple[Geocode, float], tuple[Geocode, str] | None] = OrderedDict()
        self._cache_size = cache_size

    @classmethod
    def from_file(cls, path: str | Path) -> "PanoIndex":
        return cls(load_pano_mapping(path), str(path))

    def __len__(self) -> int:
        return len(self.mapping)

    def relocate(self, geocode: Geocode, radius_m: float) -> tuple[Geocode, str] | None:
        """The mapping key and pano id nearest to `geocode` if strictly closer than `radius_m`, else None."""
        key = (float(geocode[0]), float(geocode[1]))
        if key in self.mapping:
            return key, self.mapping[key]
        cache_key = (key, radius_m)
        if cache_key in self._cache:
            self._cache.move_to_end(cache_key)
            return self._cache[cache_key]
        distances = haversine_to_many(key, self._keys_rad)
        nearest = int(np.argmin(distances))
        found = (self._keys[nearest], self.mapping[self._keys[nearest]]) if distances[nearest] < radius_m else None
        self._cache[cache_key] = found
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return found
