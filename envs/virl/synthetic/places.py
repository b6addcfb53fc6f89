"""Named places (shops, restaurants, hotels, ...) on the facades along a synthetic city's streets.

Each place sits on one side of a street segment at the facade line, gets a unique name, a Google-style place
type and a review count; about a fifth have fewer than `MIN_REVIEWS` reviews, so, as in V-IRL's collector,
some intersections get no landmark.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.virl.synthetic.streets import CORRIDOR_HALF_WIDTH, StreetGraph

MIN_REVIEWS = 10
MAX_LANDMARK_DISTANCE_M = 25.0

_NAME_WORDS = (
    "Blue", "Golden", "Silver", "Red", "Green", "Maple", "Cedar", "Oak", "Harbor", "River", "Sunset", "Sunrise",
    "Lucky", "Royal", "Little", "Grand", "Corner", "Village", "Union", "Park", "Star", "Moon", "Lotus", "Tiger",
    "Dragon", "Falcon", "Fox", "Bear", "Olive", "Lemon", "Cherry", "Pepper", "Copper", "Iron", "Crystal", "Velvet",
    "Paper", "Garden", "Bridge", "Tower", "Lantern", "Anchor", "Compass", "Meadow", "Willow", "Juniper", "Amber",
    "Coral", "Indigo", "Saffron", "Marble", "Granite", "Orchid", "Bamboo", "Pine", "Birch", "Aurora", "Nova",
    "Atlas", "Echo", "Luna", "Sol", "Vista", "Haven", "Summit", "Alpine", "Prairie", "Canyon", "Delta", "Bay",
)
_FAMILY_NAMES = (
    "Rossi", "Nakamura", "Okafor", "Larsen", "Dubois", "Kowalski", "Silva", "Patel", "Murphy", "Novak", "Haddad",
    "Jensen", "Moreau", "Costa", "Fischer", "Ivanova", "Lindqvist", "Alvarez", "Kim", "Mensah", "Nguyen", "Santos",
)
_PLACE_TYPES = (
    ("Cafe", "cafe"), ("Coffee", "cafe"), ("Bakery", "bakery"), ("Bistro", "restaurant"), ("Diner", "restaurant"),
    ("Pizzeria", "restaurant"), ("Noodle House", "restaurant"), ("Grill", "restaurant"), ("Hotel", "lodging"),
    ("Inn", "lodging"), ("Books", "book_store"), ("Pharmacy", "pharmacy"), ("Bank", "bank"), ("Fitness", "gym"),
    ("Gallery", "art_gallery"), ("Museum", "museum"), ("Boutique", "clothing_store"), ("Tailors", "clothing_store"),
    ("Florist", "florist"), ("Market", "supermarket"), ("Cinema", "movie_theater"), ("Bar", "bar"),
    ("Wine Bar", "bar"), ("Deli", "meal_takeaway"), ("Barbers", "hair_care"), ("Opticians", "store"),
)


@dataclass(frozen=True)
class Place:
    index: int
    name: str
    place_type: str
    edge: int
    side: int
    """+1 left of the edge's a->b direction, -1 right."""
    along: float
    """Metres from the edge's node a."""
    position: tuple[float, float]
    n_reviews: int
    rating: float
    place_id: str
    board: int
    """Index of the sign board colour in the style."""


def _name_pool(rng: np.random.Generator) -> list[tuple[str, str]]:
    names = [(f"{word} {kind}", ptype) for word in _NAME_WORDS for kind, ptype in _PLACE_TYPES]
    names += [(f"{family}'s {kind}", ptype) for family in _FAMILY_NAMES for kind, ptype in _PLACE_TYPES]
    return [names[i] for i in rng.permutation(len(names))]


def _place_id(rng: np.random.Generator) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    return "ChIJ" + "".join(alphabet[i] for i in rng.integers(0, len(alphabet), 23))


def place_shops(graph: StreetGraph, rng: np.random.Generator, num_boards: int, spacing: float = 30.0) -> list[Place]:
    """Places on both sides of every street segment, one every `spacing` metres on average."""
    pool = _name_pool(rng)
    places: list[Place] = []
    for edge in graph.edges:
        a, b = graph.nodes[edge.a], graph.nodes[edge.b]
        length = graph.length(edge)
        direction = (b - a) / length
        left = np.array([-direction[1], direction[0]])
        usable = length - 2 * CORRIDOR_HALF_WIDTH
        if usable < 6:
            continue
        for side in (1, -1):
            count = int(rng.poisson(usable / spacing))
            for along in sorted(rng.uniform(CORRIDOR_HALF_WIDTH + 2, length - CORRIDOR_HALF_WIDTH - 2, count)):
                if places and places[-1].edge == edge.index and places[-1].side == side and along - places[-1].along < 9:
                    continue
                if not pool:
                    return places
                name, ptype = pool.pop()
                position = a + direction * along + left * side * CORRIDOR_HALF_WIDTH
                reviews = int(rng.lognormal(4.0, 1.4)) if rng.random() > 0.2 else int(rng.integers(0, MIN_REVIEWS))
                places.append(
                    Place(len(places), name, ptype, edge.index, side, float(along),
                          (float(position[0]), float(position[1])), reviews, round(float(rng.uniform(3.2, 4.9)), 1),
                          _place_id(rng), int(rng.integers(0, num_boards)))
                )
    return places
