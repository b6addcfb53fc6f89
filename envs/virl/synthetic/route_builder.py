"""Panorama points along a synthetic city's streets, route walks with turns, and published route records.

A route starts mid-block in front of a place, goes straight for 1-3 blocks, turns (left, right or onto the
diagonal avenue) at an intersection, and so on for the requested number of turns, then stops in front of a
destination place. Its record follows V-IRL's collector: milestones at the turning intersections and the
destination, bearings between consecutive anchors truncated to integers, landmarks within 25 m with at least
10 reviews (the most reviewed one), and the milestone_info string in the published block format.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from envs.virl.geometry import compass_word, geodesic_m, heading_difference, initial_bearing, spatial_relation
from envs.virl.synthetic.places import MAX_LANDMARK_DISTANCE_M, MIN_REVIEWS, Place
from envs.virl.synthetic.streets import GeoFrame, StreetGraph, heading_of

PANO_SPACING_M = 10.0
WALKING_SPEED_MPS = 1.35


@dataclass(frozen=True)
class PanoPoint:
    index: int
    position: tuple[float, float]
    node: int | None
    edges: tuple[int, ...]


@dataclass
class RouteWalk:
    anchors: list[int]
    """Pano indices: start, turning intersections, destination."""
    path: list[list[int]]
    """Per segment, the pano indices of its corners (start, intermediate nodes, end)."""
    edges: set[int]
    start_place: Place
    dest_place: Place


def sample_panos(graph: StreetGraph, spacing: float = PANO_SPACING_M) -> tuple[list[PanoPoint], dict[int, list[int]]]:
    """Pano points every <= `spacing` metres along every edge (nodes shared); edge -> ordered pano indices."""
    panos: list[PanoPoint] = []
    node_pano: dict[int, int] = {}
    for node in range(len(graph.nodes)):
        node_pano[node] = len(panos)
        panos.append(PanoPoint(len(panos), tuple(float(v) for v in graph.nodes[node]), node, tuple(graph.adjacency[node])))
    on_edge: dict[int, list[int]] = {}
    for edge in graph.edges:
        a, b = graph.nodes[edge.a], graph.nodes[edge.b]
        steps = max(1, math.ceil(graph.length(edge) / spacing))
        ids = [node_pano[edge.a]]
        for m in range(1, steps):
            point = a + (b - a) * (m / steps)
            ids.append(len(panos))
            panos.append(PanoPoint(len(panos), (float(point[0]), float(point[1])), None, (edge.index,)))
        ids.append(node_pano[edge.b])
        on_edge[edge.index] = ids
    return panos, on_edge


def walk_route(
    graph: StreetGraph,
    panos: list[PanoPoint],
    on_edge: dict[int, list[int]],
    places_by_edge: dict[int, list[Place]],
    turns: int,
    rng: np.random.Generator,
) -> RouteWalk | None:
    """One random route with exactly `turns` turns, or None if this attempt hit a dead end.

    Long on purpose: one walk is one sequence of draws from `rng`, and keeping them in one place keeps the
    order of draws (and so every generated city) visibly fixed."""
    edge = graph.edges[int(rng.integers(0, len(graph.edges)))]
    ids = on_edge[edge.index]
    if len(ids) < 5 or not places_by_edge.get(edge.index):
        return None
    start_place = places_by_edge[edge.index][int(rng.integers(0, len(places_by_edge[edge.index])))]
    start = _nearest_on_edge(graph, edge.index, on_edge, panos, start_place)
    if start in (ids[0], ids[-1]):
        return None
    node = edge.b if rng.random() < 0.5 else edge.a
    came_from = edge.other(node)
    direction = graph.direction(edge, came_from)
    visited = {edge.a, edge.b}
    used = {edge.index}
    anchors = [start]
    path: list[list[int]] = [[start]]
    blocks, target = 1, int(rng.integers(1, 4))
    last_edge = edge.index
    for segment in range(turns + 1):
        while True:
            options = [e for e in graph.adjacency[node] if e != last_edge and graph.edges[e].other(node) not in visited]
            straight, turning = [], []
            for e in options:
                diff = abs(heading_difference(heading_of(direction), heading_of(graph.direction(graph.edges[e], node))))
                if diff < 25:
                    straight.append(e)
                elif 40 <= diff <= 140:
                    turning.append(e)
            path[-1].append(panos_of_node(panos, node))
            if segment == turns:
                break  # the last segment: the destination is on the edge ahead (or the next one)
            if blocks < target and straight:
                chosen = straight[0]
                blocks += 1
            elif turning:
                chosen = turning[int(rng.integers(0, len(turning)))]
                anchors.append(panos_of_node(panos, node))
                path.append([panos_of_node(panos, node)])
                blocks, target = 1, int(rng.integers(1, 4))
                direction = graph.direction(graph.edges[chosen], node)
                used.add(chosen)
                last_edge = chosen
                node = graph.edges[chosen].other(node)
                visited.add(node)
                break
            else:
                return None
            direction = graph.direction(graph.edges[chosen], node)
            used.add(chosen)
            last_edge = chosen
            node = graph.edges[chosen].other(node)
            visited.add(node)
        if segment == turns:
            break
    # `node` is the far end of the first edge after the last turn; the destination lies on that edge.
    final_edge = graph.edges[last_edge]
    candidates = [p for p in places_by_edge.get(final_edge.index, []) if p is not start_place]
    if not candidates:
        return None
    dest_place = candidates[int(rng.integers(0, len(candidates)))]
    dest = _nearest_on_edge(graph, final_edge.index, on_edge, panos, dest_place)
    ends = on_edge[final_edge.index]
    if dest in (ends[0], ends[-1]):
        return None
    path[-1][-1] = dest
    anchors.append(dest)
    return RouteWalk(anchors, path, used, start_place, dest_place)


def panos_of_node(panos: list[PanoPoint], node: int) -> int:
    return node  # node panos are created first, in node order


def _nearest_on_edge(graph: StreetGraph, edge_index: int, on_edge, panos, place: Place) -> int:
    target = np.array(place.position)
    ids = on_edge[edge_index]
    distances = [np.linalg.norm(np.array(panos[i].position) - target) for i in ids]
    return ids[int(np.argmin(distances))]


def encode_polyline(points: list[tuple[float, float]]) -> str:
    """Google's encoded polyline of (lat, lng) points."""
    result = []
    previous = (0, 0)
    for lat, lng in points:
        current = (round(lat * 1e5), round(lng * 1e5))
        for value in (current[0] - previous[0], current[1] - previous[1]):
            value = ~(value << 1) if value < 0 else value << 1
            while value >= 0x20:
                result.append(chr((0x20 | (value & 0x1F)) + 63))
                value >>= 5
            result.append(chr(value + 63))
        previous = current
    return "".join(result)


def place_record(place: Place, frame: GeoFrame, query: tuple[float, float], region: str) -> dict:
    """A Google-Places-shaped place object, as V-IRL's `parse_nearby_json` writes it."""
    geocode = frame.to_geo(*place.position)
    return {
        "name": place.name,
        "geocode": list(geocode),
        "rating": place.rating,
        "place_id": place.place_id,
        "distance": round(geodesic_m(query, geocode), 1),
        "n_reviews": place.n_reviews,
        "heading": round(initial_bearing(query, geocode), 1),
        "photo_reference": None,
        "place_types": [place.place_type, "point_of_interest", "establishment"],
        "plus_code": None,
        "vicinity": region.replace("_", " "),
    }


def nearby_landmark(position: tuple[float, float], places: list[Place]) -> Place | None:
    """The most reviewed place with at least MIN_REVIEWS reviews within MAX_LANDMARK_DISTANCE_M."""
    best = None
    for place in places:
        if place.n_reviews < MIN_REVIEWS:
            continue
        if math.dist(position, place.position) <= MAX_LANDMARK_DISTANCE_M and (best is None or place.n_reviews > best.n_reviews):
            best = place
    return best


_BLOCK = (
    '\n{{\n"intersection_idx": "{idx}",\n"landmarks": "{landmarks}",\n"distance": "{distance} meters",\n'
    '"human_heading": "{human}",\n"to_next_intersection_heading": "{heading} ({direction})",\n}}\n'
)


def route_record(
    walk: RouteWalk, graph: StreetGraph, panos: list[PanoPoint], places: list[Place], frame: GeoFrame, region: str
) -> dict:
    """The published route record of a walk."""
    geo = [frame.to_geo(*panos[i].position) for i in walk.anchors]
    blocks, landmark_list, distances, polylines, instructions = [], [], [], [], []
    human = 0
    for k in range(1, len(geo)):
        bearing = initial_bearing(geo[k - 1], geo[k])
        degrees = int(bearing)
        direction = compass_word(degrees)
        corner_points = [frame.to_geo(*panos[i].position) for i in walk.path[k - 1]]
        distance = int(round(sum(geodesic_m(p, q) for p, q in zip(corner_points, corner_points[1:]))))
        if k < len(geo):
            street = _street_name(graph, panos, walk.path[k - 1])
            verb = "Head" if k == 1 else "Turn"
            instructions.append(f"{verb} <b>{direction}</b> on <b>{street}</b>")
        if k == len(geo) - 1:
            relation = spatial_relation(bearing, initial_bearing(geo[k], frame.to_geo(*walk.dest_place.position)))
            landmarks = f"The destination {walk.dest_place.name} is on your {relation}"
            instructions[-1] += f"<div>Destination will be on the {relation}</div>"
        else:
            landmark = nearby_landmark(panos[walk.anchors[k]].position, places)
            if landmark is None:
                landmarks = "No landmark nearby"
                landmark_list.append(None)
            else:
                relation = spatial_relation(bearing, initial_bearing(geo[k], frame.to_geo(*landmark.position)))
                landmarks = f"{landmark.name} is on your {relation}"
                entry = place_record(landmark, frame, geo[k], region)
                entry.update(spatial_relation=relation, expression=landmarks)
                landmark_list.append(entry)
        blocks.append(_BLOCK.format(idx=k, landmarks=landmarks, distance=distance, human=human, heading=degrees,
                                    direction=direction))
        human = degrees
        distances.append(distance)
        polylines.append(encode_polyline(corner_points))
    times = [int(round(d / WALKING_SPEED_MPS)) for d in distances]
    start_geo, dest_geo = geo[0], geo[-1]
    start_place = place_record(walk.start_place, frame, start_geo, region)
    start_place.update(region=region, relocated_geocode=list(start_geo))
    dest_place = place_record(walk.dest_place, frame, dest_geo, region)
    dest_place.update(region=region, relocated_geocode=list(dest_geo))
    return {
        "start_place": start_place,
        "dest_place": dest_place,
        "route_results": {
            "geocode_list": [list(g) for g in geo[1:]],
            "landmark_list": landmark_list,
            "polyline": polylines,
            "instructions": instructions,
            "distance_list": distances,
            "time_list": times,
            "distance": sum(distances),
            "time": sum(times),
            "n_landmarks": sum(1 for entry in landmark_list if entry is not None),
        },
        "init_heading": 0,
        "instruction": " ".join(_strip_tags(text) + "." for text in instructions),
        "milestone_info": "".join(blocks),
    }


def _street_name(graph: StreetGraph, panos: list[PanoPoint], corners: list[int]) -> str:
    first, second = panos[corners[0]], panos[corners[1]]
    shared = set(first.edges) & set(second.edges)
    edges = shared or set(second.edges) or set(first.edges)
    return graph.edges[min(edges)].name


def _strip_tags(text: str) -> str:
    out, depth = [], 0
    for char in text:
        if char == "<":
            depth += 1
        elif char == ">":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(char)
    return "".join(out)
