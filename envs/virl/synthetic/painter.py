"""Paint the 360-degree equirectangular panorama seen from a point of a synthetic city.

The city is modelled as street corridors (road, sidewalk) between building facades. For every panorama
column the ray from the camera (2.5 m high) is traced through the union of the nearby corridors to the first
facade, which gives the facade's distance, the building hit and so its height, colour and windows; rows above
the roofline are sky, rows below the facade foot are ground, classified per pixel (road, sidewalk, centre
dashes, zebra crossings near intersections) at half resolution. Straight streets thus show two long openings
(ahead and behind), intersections three or four, and every place within 45 m whose facade is in sight shows
its sign board with its name. Street furniture (lamps, trees or bollards, by style) is drawn last.

Conventions match envs.virl.streetview: row 0 is the zenith, and compass heading h is at column fraction
((h + rotation) / 360) mod 1.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from envs.virl.synthetic.places import Place
from envs.virl.synthetic.streets import CORRIDOR_HALF_WIDTH, ROAD_HALF_WIDTH, StreetGraph
from envs.virl.synthetic.styles import VisualStyle

EYE_HEIGHT = 2.5
MAX_FACADE_DISTANCE = 260.0
SCENE_RADIUS = 320.0
SIGN_RADIUS = 45.0
SIGN_HEIGHT_M = 1.8
SIGN_BOTTOM_M = 3.0
FURNITURE_SPACING = 24.0
FURNITURE_RADIUS = 45.0
GROUND_DETAIL_M = 45.0


@dataclass
class CityScene:
    """Everything the painter needs about a city, precomputed once."""

    style: VisualStyle
    seed: int
    starts: np.ndarray  # (E, 2) corridor start (node a pushed back by the corridor half-width)
    axes: np.ndarray  # (E, 2) unit direction a -> b
    normals: np.ndarray  # (E, 2) unit left normal
    lengths: np.ndarray  # (E,) corridor length including both end caps
    places: list[Place]
    place_positions: np.ndarray  # (P, 2)
    place_facing: np.ndarray  # (P, 2) the facade direction at each place
    furniture: np.ndarray  # (F, 2)


def build_scene(graph: StreetGraph, places: list[Place], style: VisualStyle, seed: int) -> CityScene:
    a = graph.nodes[[e.a for e in graph.edges]]
    b = graph.nodes[[e.b for e in graph.edges]]
    lengths = np.linalg.norm(b - a, axis=1)
    axes = (b - a) / lengths[:, None]
    normals = np.stack([-axes[:, 1], axes[:, 0]], axis=1)
    starts = a - axes * CORRIDOR_HALF_WIDTH
    furniture = []
    for k in range(len(graph.edges)):
        for along in np.arange(CORRIDOR_HALF_WIDTH + 4, lengths[k] - CORRIDOR_HALF_WIDTH - 2, FURNITURE_SPACING):
            for side in (1, -1):
                furniture.append(a[k] + axes[k] * along + normals[k] * side * (ROAD_HALF_WIDTH + 1.2))
    return CityScene(
        style, seed, starts, axes, normals, lengths + 2 * CORRIDOR_HALF_WIDTH, places,
        np.array([p.position for p in places]).reshape(-1, 2),
        np.array([axes[p.edge] for p in places]).reshape(-1, 2),
        np.array(furniture).reshape(-1, 2),
    )


_SKY, _FACADE, _CORNICE, _FRAME, _GLASS, _SHOP, _GROUND = range(7)


def _hash(*parts: np.ndarray) -> np.ndarray:
    """A cheap deterministic integer hash of integer arrays (broadcast)."""
    h = np.uint64(1469598103934665603)
    for part in parts:
        h = (h ^ np.asarray(part).astype(np.uint64)) * np.uint64(1099511628211)
        h ^= h >> np.uint64(29)
    return h


def paint_panorama(scene: CityScene, position: tuple[float, float], rotation: float, width: int) -> np.ndarray:
    """The (width/2, width, 3) uint8 equirectangular panorama at `position` (local metres)."""
    height = width // 2
    style = scene.style
    origin = np.asarray(position, dtype=np.float64)
    near = _nearby_corridors(scene, origin)
    headings = np.radians(((np.arange(width) + 0.5) / width * 360.0 - rotation) % 360.0)
    directions = np.stack([np.sin(headings), np.cos(headings)], axis=1)
    distance, hit_edge, hit_side, hit_coord = _trace(scene, near, origin, directions)
    elevation = (0.5 - (np.arange(height) + 0.5) / height) * math.pi  # row -> elevation, radians
    tan_el = np.tan(elevation).astype(np.float32)[:, None]

    key = _hash(hit_edge + 7, hit_side + 3, np.floor(hit_coord / np.mean(style.building_width)).astype(np.int64) + 10_000, scene.seed)
    low, high = style.building_height
    building_h = low + (key % np.uint64(1000)).astype(np.float32) / 1000 * (high - low)
    palette = np.array(style.facades, dtype=np.float32)
    facade_rgb = palette[(key >> np.uint64(12)) % np.uint64(len(palette))]
    store_rgb = np.array(style.storefront, dtype=np.float32)[(key >> np.uint64(20)) % np.uint64(len(style.storefront))]
    far = distance >= MAX_FACADE_DISTANCE - 1e-6
    building_h = np.where(far, 12 + (key % np.uint64(30)).astype(np.float32), building_h).astype(np.float32)

    dist32 = distance.astype(np.float32)[None, :]
    z = EYE_HEIGHT + tan_el * dist32  # height on the facade plane seen by each pixel
    top = building_h[None, :]
    floor_h = np.float32(style.floor_height)
    u = np.abs(np.mod(hit_coord, 3.2).astype(np.float32) / 3.2 - 0.5)[None, :]
    level = np.mod(z - 4.0, floor_h) / floor_h
    upper = (z > 4.0) & (z < top - 1.0)
    glass = upper & (u < style.window_width / 2) & (level > 0.25) & (level < 0.8)
    frame = upper & (u < style.window_width / 2 + 0.06) & (level > 0.2) & (level < 0.85)
    # per-pixel category, then one gather from a per-column colour table
    category = np.where(z < 0, _GROUND, np.where(z > top, _SKY, _FACADE)).astype(np.uint8)
    on_facade = category == _FACADE
    category[on_facade & (z > top - 0.6)] = _CORNICE
    category[on_facade & frame] = _FRAME
    category[on_facade & glass] = _GLASS
    category[on_facade & (z < 3.0)] = _SHOP
    table = np.zeros((width, 7, 3), dtype=np.float32)
    table[:, _FACADE] = facade_rgb
    table[:, _CORNICE] = facade_rgb * 0.75
    table[:, _FRAME] = style.window_frame
    table[:, _GLASS] = style.window
    table[:, _SHOP] = store_rgb
    fade = (np.clip(distance / MAX_FACADE_DISTANCE, 0, 1) * 0.75).astype(np.float32)[:, None, None]
    table = table * (1 - fade) + np.array(style.haze, np.float32) * fade
    table[:, _SKY] = 0
    table[:, _GROUND] = 0
    image = np.clip(table + 0.5, 0, 255).astype(np.uint8)[np.arange(width)[None, :], category]
    t = np.clip(elevation / (math.pi / 2), 0, 1).astype(np.float32)[:, None]
    sky = (np.array(style.sky_horizon, np.float32) * (1 - t) + np.array(style.sky_top, np.float32) * t + 0.5).astype(np.uint8)
    is_sky = category == _SKY
    image[is_sky] = np.broadcast_to(sky[:, None, :], image.shape)[is_sky]
    ground_rows = np.arange(height // 2, height)
    ground = _paint_ground(scene, near, origin, directions, elevation[ground_rows], style)
    lower = category[height // 2 :] == _GROUND
    image[height // 2 :][lower] = ground[lower]
    result = Image.fromarray(image)
    draw = ImageDraw.Draw(result)
    _draw_furniture(draw, scene, origin, rotation, width, distance)
    _draw_signs(result, scene, origin, rotation, width, distance)
    return np.asarray(result)


def _nearby_corridors(scene: CityScene, origin: np.ndarray) -> np.ndarray:
    rel = origin[None, :] - scene.starts
    along = np.clip(np.einsum("ij,ij->i", rel, scene.axes), 0, scene.lengths)
    closest = scene.starts + scene.axes * along[:, None]
    return np.nonzero(np.linalg.norm(origin[None, :] - closest, axis=1) < SCENE_RADIUS)[0]


def _ray_intervals(scene, near, origin, directions, half_width):
    """Entry/exit ray parameters (M, C) of each nearby corridor strip of the given half-width."""
    rel = origin[None, :] - scene.starts[near]
    along0 = np.einsum("ij,ij->i", rel, scene.axes[near])[:, None]
    lat0 = np.einsum("ij,ij->i", rel, scene.normals[near])[:, None]
    d_along = scene.axes[near] @ directions.T
    d_lat = scene.normals[near] @ directions.T
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (0 - along0) / d_along
        t2 = (scene.lengths[near][:, None] - along0) / d_along
        t3 = (-half_width - lat0) / d_lat
        t4 = (half_width - lat0) / d_lat
    inside_along = (along0 >= 0) & (along0 <= scene.lengths[near][:, None])
    inside_lat = np.abs(lat0) <= half_width
    lo_a = np.where(d_along == 0, np.where(inside_along, -np.inf, np.inf), np.minimum(t1, t2))
    hi_a = np.where(d_along == 0, np.where(inside_along, np.inf, -np.inf), np.maximum(t1, t2))
    lo_l = np.where(d_lat == 0, np.where(inside_lat, -np.inf, np.inf), np.minimum(t3, t4))
    hi_l = np.where(d_lat == 0, np.where(inside_lat, np.inf, -np.inf), np.maximum(t3, t4))
    return np.maximum(lo_a, lo_l), np.minimum(hi_a, hi_l), along0, lat0, d_along, d_lat


def _trace(scene, near, origin, directions):
    """Distance to the first facade per column, and which corridor side (edge, side, coordinate) it is."""
    columns = len(directions)
    if len(near) == 0:
        zero = np.zeros(columns)
        return np.full(columns, 3.0), zero.astype(np.int64), zero.astype(np.int64), zero
    t_in, t_out, along0, lat0, d_along, d_lat = _ray_intervals(scene, near, origin, directions, CORRIDOR_HALF_WIDTH)
    valid = t_out > np.maximum(t_in, 0)
    reach = np.zeros(columns)
    for _ in range(len(near)):
        extends = valid & (t_in <= reach[None, :] + 1e-6) & (t_out > reach[None, :])
        new_reach = np.max(np.where(extends, t_out, reach[None, :]), axis=0)
        if np.all(new_reach <= reach):
            break
        reach = new_reach
    reach = np.minimum(reach, MAX_FACADE_DISTANCE)
    exit_strip = np.argmax(np.where(valid, -np.abs(t_out - reach[None, :]), -np.inf), axis=0)
    cols = np.arange(columns)
    along = along0[exit_strip, 0] + d_along[exit_strip, cols] * reach
    lat = lat0[exit_strip, 0] + d_lat[exit_strip, cols] * reach
    side_hit = np.abs(np.abs(lat) - CORRIDOR_HALF_WIDTH) < 0.05
    side = np.where(side_hit, np.sign(lat), 2 + (along > 1).astype(np.int64)).astype(np.int64)
    coord = np.where(side_hit, along, lat)
    return reach, near[exit_strip].astype(np.int64), side, coord


def _paint_ground(scene, near, origin, directions, elevations, style) -> np.ndarray:
    """Ground colours below the horizon at half resolution; beyond GROUND_DETAIL_M everything visible is road."""
    half_cols = directions[::2].astype(np.float32)
    rows = elevations[::2]
    distance = (EYE_HEIGHT / np.tan(np.maximum(-rows, 1e-3))).astype(np.float32)
    detailed = distance < GROUND_DETAIL_M
    colour = np.empty((len(rows), len(half_cols), 3), dtype=np.float32)
    colour[:] = style.road
    n_detail = int(detailed.sum())
    if n_detail:
        first = len(rows) - n_detail  # distances shrink with depression, so detailed rows come last
        points = origin.astype(np.float32)[None, None, :] + distance[first:, None, None] * half_cols[None, :, :]
        road = np.zeros(points.shape[:2], dtype=bool)
        marking = np.zeros_like(road)
        rel_all = scene.starts[near] - origin[None, :]
        close = near[np.abs(np.einsum("ij,ij->i", rel_all, scene.normals[near])) < GROUND_DETAIL_M + CORRIDOR_HALF_WIDTH]
        for k in close:
            rel = points - scene.starts[k].astype(np.float32)
            along = rel @ scene.axes[k].astype(np.float32) - CORRIDOR_HALF_WIDTH  # metres from node a
            lat = rel @ scene.normals[k].astype(np.float32)
            length = scene.lengths[k] - 2 * CORRIDOR_HALF_WIDTH
            in_road = (np.abs(lat) < ROAD_HALF_WIDTH) & (along > -ROAD_HALF_WIDTH) & (along < length + ROAD_HALF_WIDTH)
            if not in_road.any():
                continue
            road |= in_road
            from_end = np.minimum(along, length - along)
            zebra = (from_end > CORRIDOR_HALF_WIDTH - 3.5) & (from_end < CORRIDOR_HALF_WIDTH) & (np.mod(lat, 1.2) < 0.6)
            dashes = (np.abs(lat) < 0.15) & (from_end > CORRIDOR_HALF_WIDTH) & (np.mod(along, 6.0) < 3.0)
            marking |= in_road & (zebra | dashes)
        near_colour = colour[first:]
        near_colour[~road] = style.sidewalk
        near_colour[marking] = style.road_marking
    fade = np.clip(distance / MAX_FACADE_DISTANCE, 0, 1)[:, None, None] * 0.6
    colour = colour * (1 - fade) + np.array(style.haze, np.float32) * fade
    full = np.repeat(np.repeat(np.clip(colour + 0.5, 0, 255).astype(np.uint8), 2, axis=0), 2, axis=1)
    return full[: len(elevations), : len(directions)]


def _column_of(heading_deg: np.ndarray | float, rotation: float, width: int):
    return ((np.asarray(heading_deg) + rotation) % 360.0) / 360.0 * width


def _draw_furniture(draw: ImageDraw.ImageDraw, scene: CityScene, origin, rotation, width, facade_distance) -> None:
    if len(scene.furniture) == 0:
        return
    rel = scene.furniture - origin[None, :]
    dist = np.linalg.norm(rel, axis=1)
    height = width // 2
    style = scene.style
    for index in np.argsort(-dist):
        d = dist[index]
        if not 1.5 < d < FURNITURE_RADIUS:
            continue
        heading = math.degrees(math.atan2(rel[index, 0], rel[index, 1])) % 360
        x = float(_column_of(heading, rotation, width))
        if facade_distance[int(x) % width] < d - 0.5:
            continue
        px_per_rad = width / (2 * math.pi)

        def row(z: float) -> float:
            return (0.5 - math.atan2(z - EYE_HEIGHT, d) / math.pi) * height

        half = max(0.6, 0.12 / d * px_per_rad)
        for shift in (0, -width, width):
            cx = x + shift
            if style.furniture == "lamps":
                draw.rectangle([cx - half, row(6.0), cx + half, row(0.0)], fill=style.furniture_color)
                draw.rectangle([cx - 4 * half, row(6.3), cx + 4 * half, row(5.9)], fill=(240, 230, 180))
            elif style.furniture == "trees":
                draw.rectangle([cx - half * 1.5, row(3.0), cx + half * 1.5, row(0.0)], fill=(90, 64, 40))
                radius = 1.8 / d * px_per_rad
                draw.ellipse([cx - radius, row(5.6), cx + radius, row(2.4)], fill=style.furniture_color)
            else:
                draw.rectangle([cx - half * 1.6, row(1.0), cx + half * 1.6, row(0.0)], fill=style.furniture_color)


@functools.lru_cache(maxsize=4096)
def sign_board(name: str, board: tuple[int, int, int], ink: tuple[int, int, int], case: str, stroke: int,
               slant: float) -> Image.Image:
    """The sign of a place at a fixed lettering size (scaled when pasted)."""
    text = {"upper": name.upper(), "lower": name.lower()}.get(case, name)
    font = _font(40)
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    margin = 14
    width, height = right - left + 2 * margin, 40 + 2 * margin
    image = Image.new("RGB", (width, height), board)
    draw = ImageDraw.Draw(image)
    draw.text((margin - left, margin + (40 - (bottom - top)) / 2 - top), text, font=font, fill=ink,
              stroke_width=stroke, stroke_fill=ink)
    if slant:
        image = image.transform(image.size, Image.Transform.AFFINE, (1, slant, -slant * height / 2, 0, 1, 0),
                                resample=Image.Resampling.BICUBIC, fillcolor=board)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, width - 1, height - 1], outline=tuple(int(c * 0.6) for c in board), width=3)
    return image


@functools.lru_cache(maxsize=8)
def _font(size: int):
    return ImageFont.load_default(size=size)


def _draw_signs(image: Image.Image, scene: CityScene, origin, rotation, width, facade_distance) -> None:
    if len(scene.places) == 0:
        return
    rel = scene.place_positions - origin[None, :]
    dist = np.linalg.norm(rel, axis=1)
    height = width // 2
    style = scene.style
    px_per_rad = width / (2 * math.pi)
    for index in np.argsort(-dist):
        d = float(dist[index])
        if not 2.0 < d < SIGN_RADIUS:
            continue
        direction = rel[index] / d
        heading = math.degrees(math.atan2(direction[0], direction[1])) % 360
        x = float(_column_of(heading, rotation, width))
        if facade_distance[int(x) % width] < d - 1.5:
            continue  # hidden behind another facade
        place = scene.places[index]
        board = sign_board(place.name, style.sign_boards[place.board % len(style.sign_boards)],
                           style.sign_text[place.board % len(style.sign_text)], style.sign_case, style.sign_stroke,
                           style.sign_slant)
        facing = scene.place_facing[index]
        foreshortening = max(0.25, abs(float(facing[0] * direction[1] - facing[1] * direction[0])))
        metres_wide = SIGN_HEIGHT_M * board.width / board.height
        w_px = int(round(2 * math.atan(metres_wide / 2 / d) * px_per_rad * foreshortening))
        top = (0.5 - math.atan2(SIGN_BOTTOM_M + SIGN_HEIGHT_M - EYE_HEIGHT, d) / math.pi) * height
        bottom = (0.5 - math.atan2(SIGN_BOTTOM_M - EYE_HEIGHT, d) / math.pi) * height
        h_px = int(round(bottom - top))
        if w_px < 4 or h_px < 3:
            continue
        scaled = board.resize((w_px, h_px), Image.Resampling.BILINEAR)
        x0 = int(round(x - w_px / 2))
        for shift in (0, -width, width):
            if x0 + shift < width and x0 + shift + w_px > 0:
                image.paste(scaled, (x0 + shift, int(round(top))))
