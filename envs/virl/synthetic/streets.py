"""The street graph of a synthetic city, in local metres (x east, y north), and its geographic frame.

A rotated grid of blocks of varying size, with jittered intersections, a few missing street segments (the
graph stays connected) and one diagonal avenue cutting through blocks. Every street is a corridor of
`CORRIDOR_HALF_WIDTH` metres either side of its centre line: road, then sidewalk, then building facades.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from envs.virl.geometry import EARTH_RADIUS_M

ROAD_HALF_WIDTH = 5.5
CORRIDOR_HALF_WIDTH = 9.0
METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180


@dataclass(frozen=True)
class GeoFrame:
    """Local metres <-> (lat, lng) around an origin (equirectangular, exact enough for a few km)."""

    lat0: float
    lng0: float

    def to_geo(self, x: float, y: float) -> tuple[float, float]:
        lat = self.lat0 + y / METRES_PER_DEGREE
        lng = self.lng0 + x / (METRES_PER_DEGREE * math.cos(math.radians(self.lat0)))
        return (round(lat, 9), round(lng, 9))


@dataclass(frozen=True)
class Edge:
    index: int
    a: int
    b: int
    name: str

    def other(self, node: int) -> int:
        return self.b if node == self.a else self.a


@dataclass
class StreetGraph:
    nodes: np.ndarray
    """(N, 2) node positions in metres."""
    edges: list[Edge]
    adjacency: dict[int, list[int]] = field(default_factory=dict)
    """node -> indices of incident edges."""

    def __post_init__(self) -> None:
        self.adjacency = {i: [] for i in range(len(self.nodes))}
        for edge in self.edges:
            self.adjacency[edge.a].append(edge.index)
            self.adjacency[edge.b].append(edge.index)

    def direction(self, edge: Edge, from_node: int) -> np.ndarray:
        vector = self.nodes[edge.other(from_node)] - self.nodes[from_node]
        return vector / np.linalg.norm(vector)

    def length(self, edge: Edge) -> float:
        return float(np.linalg.norm(self.nodes[edge.b] - self.nodes[edge.a]))


def heading_of(vector: np.ndarray) -> float:
    """Compass heading of a local (east, north) vector."""
    return math.degrees(math.atan2(vector[0], vector[1])) % 360


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def build_street_graph(size: int, rng: np.random.Generator, street_words: tuple[str, str, str]) -> StreetGraph:
    """A `size` x `size` grid of intersections, rotated, jittered, with gaps and one diagonal avenue."""
    angle = math.radians(float(rng.uniform(-35, 35)))
    along = np.array([math.sin(angle), math.cos(angle)])  # avenue direction ("north-ish")
    across = np.array([math.cos(angle), -math.sin(angle)])  # street direction ("east-ish")
    xs = np.concatenate([[0.0], np.cumsum(rng.uniform(75, 150, size - 1))])
    ys = np.concatenate([[0.0], np.cumsum(rng.uniform(60, 115, size - 1))])
    xs -= xs.mean()
    ys -= ys.mean()
    grid_id = {}
    points = []
    for i in range(size):
        for j in range(size):
            grid_id[(i, j)] = len(points)
            points.append(xs[i] * across + ys[j] * along + rng.uniform(-3, 3, 2))
    nodes = np.array(points)
    street, avenue, diagonal = street_words
    candidates: list[tuple[int, int, str]] = []
    for i in range(size):
        for j in range(size):
            if i + 1 < size:
                candidates.append((grid_id[(i, j)], grid_id[(i + 1, j)], f"{_ordinal(j + 1)} {street}"))
            if j + 1 < size:
                candidates.append((grid_id[(i, j)], grid_id[(i, j + 1)], f"{chr(65 + i % 26)} {avenue}"))
    keep = [True] * len(candidates)
    for index in rng.permutation(len(candidates))[: len(candidates) // 12]:
        keep[index] = False
        if not _connected(len(nodes), [c for c, k in zip(candidates, keep) if k]):
            keep[index] = True
    pairs = [c for c, k in zip(candidates, keep) if k]
    i0, j0 = int(rng.integers(0, max(1, size // 3))), int(rng.integers(0, max(1, size // 3)))
    run = int(rng.integers(3, max(4, size - max(i0, j0))))
    for step in range(run):
        i, j = i0 + step, j0 + step
        if i + 1 < size and j + 1 < size:
            pairs.append((grid_id[(i, j)], grid_id[(i + 1, j + 1)], diagonal))
    edges = [Edge(k, a, b, name) for k, (a, b, name) in enumerate(pairs)]
    return StreetGraph(nodes, edges)


def _connected(num_nodes: int, pairs: list[tuple[int, int, str]]) -> bool:
    neighbours: dict[int, list[int]] = {i: [] for i in range(num_nodes)}
    for a, b, _ in pairs:
        neighbours[a].append(b)
        neighbours[b].append(a)
    seen = {0}
    stack = [0]
    while stack:
        for nxt in neighbours[stack.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return len(seen) == num_nodes
