"""Generate a synthetic city and write it in the published V-IRL folder layout.

    OUT/route_infos.json        [routes, count], the published route records
    OUT/gps_pano_mapping.pkl    {(lat, lng): pano_id}
    OUT/street_views/{pano_id}.jpg, {pano_id}.metadata.json   panoramas and their north rotation
    OUT/city.json               how the city was made (spec, style, counts)

Only panoramas on streets that some route uses are painted. Painting runs in `workers` processes; every
panorama depends only on the city and its own position and rotation, so the bytes do not depend on the
number of workers. The route file and mapping are written last, atomically, so a folder whose route file
exists is complete.
"""

from __future__ import annotations

import json
import math
import pickle
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from envs.errors import InputError
from envs.sft_records import atomic_write_text
from envs.virl.synthetic.painter import CityScene, build_scene, paint_panorama
from envs.virl.synthetic.places import place_shops
from envs.virl.synthetic.route_builder import route_record, sample_panos, walk_route
from envs.virl.synthetic.streets import GeoFrame, build_street_graph
from envs.virl.synthetic.styles import get_style

ROUTE_FILE = "route_infos.json"
MAPPING_FILE = "gps_pano_mapping.pkl"
PANORAMA_DIR = "street_views"
_PANO_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@dataclass
class CitySpec:
    name: str
    num_routes: int = 1000
    style: str = "metropolis"
    seed: int = 0
    pano_width: int = 1024
    """Panorama width in pixels (height is half)."""
    min_turns: int = 1
    max_turns: int = 5
    """Turning intersections per route; a route has turns + 1 milestones (the last is the destination)."""
    jpeg_quality: int = 90
    grid_size: int | None = None
    """Intersections per side of the street grid (default grows with the number of routes)."""

    def __post_init__(self) -> None:
        if not self.name or any(c in self.name for c in "/\\\0"):
            raise InputError(f"city name must be a non-empty name without slashes, got {self.name!r}")
        get_style(self.style)
        if self.num_routes < 1:
            raise InputError(f"num_routes must be at least 1, got {self.num_routes}")
        if self.pano_width < 64 or self.pano_width % 4:
            raise InputError(f"pano_width must be a multiple of 4 and at least 64, got {self.pano_width}")
        if not 1 <= self.min_turns <= self.max_turns <= 12:
            raise InputError(f"need 1 <= min_turns <= max_turns <= 12, got {self.min_turns}, {self.max_turns}")


@dataclass
class CitySummary:
    out_dir: str
    route_info_path: str
    gps_to_pano_path: str
    panorama_dir: str
    num_routes: int
    num_panoramas: int
    style: str
    seconds: float = 0.0
    extra: dict = field(default_factory=dict)


def _grid_size(spec: CitySpec) -> int:
    if spec.grid_size is not None:
        return max(4, spec.grid_size)
    return int(min(16, max(6, round(4 + math.sqrt(spec.num_routes) / 3))))


def _pano_id(rng: np.random.Generator) -> str:
    return "".join(_PANO_ALPHABET[i] for i in rng.integers(0, len(_PANO_ALPHABET), 22))


def generate_city(
    spec: CitySpec, out_dir: str | Path, on_progress: Callable[[int, int], None] = lambda done, total: None,
    workers: int = 1,
) -> CitySummary:
    """Build the city of `spec` and write it to `out_dir`; `on_progress(done, total)` counts panoramas.

    Long on purpose: it is the city's build recipe read top to bottom (graph, places, routes, panoramas, files),
    each step a call; splitting it would only pass the same dozen values between pieces."""
    out = Path(out_dir)
    style = get_style(spec.style)
    rng = np.random.default_rng([spec.seed, zlib.crc32(spec.name.encode()), zlib.crc32(spec.style.encode())])
    origin = np.random.default_rng(zlib.crc32(spec.name.encode()))
    frame = GeoFrame(round(float(origin.uniform(-45, 55)), 6), round(float(origin.uniform(-170, 170)), 6))
    region = f"{spec.name}_synthetic"
    graph = build_street_graph(_grid_size(spec), rng, style.street_words)
    places = place_shops(graph, rng, len(style.sign_boards))
    places_by_edge: dict[int, list] = {}
    for place in places:
        places_by_edge.setdefault(place.edge, []).append(place)
    panos, on_edge = sample_panos(graph)

    walks, attempts = [], 0
    while len(walks) < spec.num_routes:
        attempts += 1
        if attempts > 400 * spec.num_routes + 1000:
            raise InputError(f"could not lay out {spec.num_routes} routes in city {spec.name!r}; use a larger grid")
        turns = int(rng.integers(spec.min_turns, spec.max_turns + 1))
        walk = walk_route(graph, panos, on_edge, places_by_edge, turns, rng)
        if walk is not None:
            walks.append(walk)
    used_edges = sorted(set().union(*(w.edges for w in walks)))
    used = sorted({i for e in used_edges for i in on_edge[e]})
    pano_ids = {i: _pano_id(rng) for i in used}
    rotations = {i: round(float(rng.uniform(0, 360)), 2) for i in used}
    records = [route_record(w, graph, panos, places, frame, region) for w in walks]

    views = out / PANORAMA_DIR
    views.mkdir(parents=True, exist_ok=True)
    scene = build_scene(graph, places, style, spec.seed)
    jobs = [(pano_ids[i], panos[i].position, rotations[i], frame.to_geo(*panos[i].position)) for i in used]
    chunks = [jobs[k : k + 64] for k in range(0, len(jobs), 64)]
    done = 0
    on_progress(0, len(jobs))
    if workers <= 1:
        for chunk in chunks:
            done += _paint_chunk(scene, chunk, str(views), spec.pano_width, spec.jpeg_quality)
            on_progress(done, len(jobs))
    else:
        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(scene,)) as pool:
            futures = [pool.submit(_paint_chunk_in_worker, c, str(views), spec.pano_width, spec.jpeg_quality) for c in chunks]
            for future in futures:
                done += future.result()
                on_progress(done, len(jobs))

    mapping = {frame.to_geo(*panos[i].position): pano_ids[i] for i in used}
    mapping_path = out / MAPPING_FILE
    temporary = mapping_path.with_suffix(".pkl.tmp")
    temporary.write_bytes(pickle.dumps(mapping, protocol=4))
    temporary.replace(mapping_path)
    meta = {"spec": asdict(spec), "style": style.description, "origin": [frame.lat0, frame.lng0],
            "grid_size": _grid_size(spec), "routes": len(records), "route_attempts": attempts,
            "panoramas": len(used), "places": len(places), "streets": len(graph.edges)}
    atomic_write_text(out / "city.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    route_path = out / ROUTE_FILE
    atomic_write_text(route_path, json.dumps([records, attempts], indent=4, ensure_ascii=False) + "\n")
    return CitySummary(str(out), str(route_path), str(mapping_path), str(views), len(records), len(used), spec.style,
                       extra=meta)


def _paint_chunk(scene: CityScene, chunk, views_dir: str, width: int, quality: int) -> int:
    for pano_id, position, rotation, geo in chunk:
        image = paint_panorama(scene, position, rotation, width)
        path = Path(views_dir) / f"{pano_id}.jpg"
        Image.fromarray(image).save(path, format="JPEG", quality=quality)
        meta = {"pano_id": pano_id, "rotation": rotation, "lat": geo[0], "lng": geo[1], "source": "synthetic"}
        (Path(views_dir) / f"{pano_id}.metadata.json").write_text(json.dumps(meta) + "\n", encoding="utf-8")
    return len(chunk)


_WORKER_SCENE: CityScene | None = None


def _init_worker(scene: CityScene) -> None:
    global _WORKER_SCENE
    _WORKER_SCENE = scene


def _paint_chunk_in_worker(chunk, views_dir: str, width: int, quality: int) -> int:
    return _paint_chunk(_WORKER_SCENE, chunk, views_dir, width, quality)
