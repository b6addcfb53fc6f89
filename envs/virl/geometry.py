"""Geodesy and heading vocabulary of V-IRL: distances, bearings, compass words and relative turn words.

Distances follow the published code: the rail's 5 m / 8 m thresholds use the WGS-84 ellipsoidal distance
(Vincenty's inverse formula here; geopy's Karney algorithm agrees to well under a millimetre at street
scale), the nearest-panorama search uses the haversine distance on a 6371 km sphere. Points are
`(lat, lng)` in degrees and headings are compass degrees (0 = north, 90 = east).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

EARTH_RADIUS_M = 6_371_000.0
_WGS84_A = 6_378_137.0
_WGS84_F = 1 / 298.257223563
_WGS84_B = _WGS84_A * (1 - _WGS84_F)

COMPASS_WORDS = ("north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest")
SPATIAL_RELATIONS = ("front", "right front", "right", "right behind", "behind", "left behind", "left", "left front")
RELATIVE_TURNS = ("left", "right", "slightly left", "slightly right")

Geocode = tuple[float, float]


def haversine_m(a: Sequence[float], b: Sequence[float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def haversine_to_many(point: Sequence[float], points_rad: np.ndarray) -> np.ndarray:
    """Haversine distances in metres from `point` (degrees) to an (N, 2) array of (lat, lng) in radians."""
    lat1, lng1 = math.radians(point[0]), math.radians(point[1])
    lat2, lng2 = points_rad[:, 0], points_rad[:, 1]
    h = np.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * np.cos(lat2) * np.sin((lng2 - lng1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def geodesic_m(a: Sequence[float], b: Sequence[float]) -> float:
    """Distance on the WGS-84 ellipsoid (Vincenty inverse); haversine if it fails to converge (antipodes)."""
    if a[0] == b[0] and a[1] == b[1]:
        return 0.0
    f = _WGS84_F
    u1 = math.atan((1 - f) * math.tan(math.radians(a[0])))
    u2 = math.atan((1 - f) * math.tan(math.radians(b[0])))
    big_l = math.radians(b[1] - a[1])
    lam = big_l
    sin_u1, cos_u1, sin_u2, cos_u2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
        if sin_sigma == 0:
            return 0.0
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cos_u1 * cos_u2 * sin_lam / sin_sigma
        cos2_alpha = 1 - sin_alpha**2
        cos_2sm = cos_sigma - 2 * sin_u1 * sin_u2 / cos2_alpha if cos2_alpha else 0.0
        c = f / 16 * cos2_alpha * (4 + f * (4 - 3 * cos2_alpha))
        previous = lam
        lam = big_l + (1 - c) * f * sin_alpha * (sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm**2)))
        if abs(lam - previous) < 1e-12:
            break
    else:
        return haversine_m(a, b)
    u_sq = cos2_alpha * (_WGS84_A**2 - _WGS84_B**2) / _WGS84_B**2
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    delta_sigma = big_b * sin_sigma * (
        cos_2sm
        + big_b / 4 * (cos_sigma * (-1 + 2 * cos_2sm**2) - big_b / 6 * cos_2sm * (-3 + 4 * sin_sigma**2) * (-3 + 4 * cos_2sm**2))
    )
    return _WGS84_B * big_a * (sigma - delta_sigma)


def initial_bearing(a: Sequence[float], b: Sequence[float]) -> float:
    """Great-circle initial bearing from `a` to `b`, in [0, 360)."""
    lat1, lat2 = math.radians(a[0]), math.radians(b[0])
    dlng = math.radians(b[1] - a[1])
    x = math.sin(dlng) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dlng)
    return (math.degrees(math.atan2(x, y)) + 360.0) % 360.0


def _nearest_sector(angle: float, words: Sequence[str]) -> str:
    """The word whose 45-degree sector centre is circularly closest; ties go to the earlier word."""
    best, best_distance = words[0], 361.0
    for index, word in enumerate(words):
        d = abs(angle - 45 * index) % 360
        d = min(d, 360 - d)
        if d < best_distance:
            best, best_distance = word, d
    return best


def compass_word(heading: float) -> str:
    """One of the 8 compass words; 22.5 is north and 337.5 is north (ties go to the earlier entry)."""
    return _nearest_sector(heading % 360, COMPASS_WORDS)


def spatial_relation(agent_heading: float, target_bearing: float) -> str:
    """Where a target lies for an agent facing `agent_heading`: "front", "right front", ... "left front"."""
    return _nearest_sector((target_bearing - agent_heading) % 360, SPATIAL_RELATIONS)


def heading_difference(previous: float, following: float) -> float:
    """The turn from `previous` to `following`, wrapped to [-180, 180) (the published code does not wrap)."""
    return (following - previous + 180.0) % 360.0 - 180.0


def relative_turn(previous: float, following: float) -> str:
    """left (< -45), right (> 45), slightly left ([-45, 0]) or slightly right ((0, 45]) of the wrapped turn."""
    r = heading_difference(previous, following)
    if r < -45:
        return "left"
    if r > 45:
        return "right"
    return "slightly left" if r <= 0 else "slightly right"


def interpolate(a: Sequence[float], b: Sequence[float], fraction: float) -> Geocode:
    """Linear interpolation of latitude and longitude in degrees (as the published rail does)."""
    return (a[0] + (b[0] - a[0]) * fraction, a[1] + (b[1] - a[1]) * fraction)
