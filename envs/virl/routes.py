"""Load and validate V-IRL route files (`route_infos.json`) in the published format.

The file is a JSON array `[routes, count]`; each route record carries `start_place.relocated_geocode`,
`init_heading`, `route_results.geocode_list` and the `milestone_info` string (K text blocks, one per
milestone). Only those fields drive the environment; everything else is kept in `Route.record` for tools.
Every problem is reported as a `RouteFileError` naming the file, the route index and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envs.errors import DataFileError
from envs.virl.geometry import COMPASS_WORDS, Geocode

NO_LANDMARK = "No landmark nearby"  # the data's text for a milestone without landmark (singular)


class RouteFileError(DataFileError):
    """A route file that cannot be used, named in one line."""


@dataclass(frozen=True)
class Milestone:
    """One block of `milestone_info`: what is seen on arrival, and the heading of the next segment."""

    landmark: str
    heading: int
    direction: str


@dataclass(frozen=True)
class Route:
    index: int
    start: Geocode
    init_heading: int
    geocodes: tuple[Geocode, ...]
    milestones: tuple[Milestone, ...]
    destination: str | None = None
    record: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class RouteFile:
    path: Path
    routes: tuple[Route, ...]
    count: int
    """The file's second element (the collector's destination counter, >= len(routes)); informational."""


def parse_milestone_info(text: str) -> list[dict[str, str]]:
    """Split a `milestone_info` string into K dicts of strings, the way the published parser does.

    Blocks are delimited by `}`; each line `"key": "value",` is split at its first colon and stripped of
    whitespace, quotes and the trailing comma.
    """
    blocks: list[dict[str, str]] = []
    for piece in text.split("}"):
        piece = piece.strip()
        if not piece:
            continue
        if piece.startswith("{"):
            piece = piece[1:]
        entry: dict[str, str] = {}
        for line in piece.splitlines():
            line = line.strip()
            if not line:
                continue
            if line.endswith(","):
                line = line[:-1]
            if ":" not in line:
                continue
            key, value = line.split(":", 1)
            entry[key.strip().strip("\"'")] = value.strip().strip("\"'")
        blocks.append(entry)
    return blocks


def parse_heading_field(value: str) -> tuple[int, str]:
    """`"259 (west)"` -> (259, "west"); raises DataFileError with the offending text."""
    if "(" not in value or ")" not in value.split("(", 1)[1]:
        raise DataFileError(f"to_next_intersection_heading {value!r} is not 'DEGREES (direction)'")
    degrees_text, rest = value.split("(", 1)
    direction = rest.split(")", 1)[0].strip()
    try:
        degrees = int(degrees_text.strip())
    except ValueError:
        raise DataFileError(f"to_next_intersection_heading {value!r} has no integer degrees") from None
    if direction not in COMPASS_WORDS:
        raise DataFileError(f"to_next_intersection_heading {value!r}: {direction!r} is not one of {', '.join(COMPASS_WORDS)}")
    return degrees % 360, direction


def _geocode(value: Any, what: str) -> Geocode:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise DataFileError(f"{what} must be [lat, lng], got {str(value)[:60]}")
    try:
        lat, lng = float(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise DataFileError(f"{what} must be two numbers, got {str(value)[:60]}") from None
    if not (math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 360):
        raise DataFileError(f"{what} is not a valid latitude/longitude: {str(value)[:60]}")
    return (lat, lng)


def parse_route(record: Any, index: int) -> Route:
    """One route record -> `Route`; raises DataFileError naming the field (the caller adds file and index)."""
    if not isinstance(record, dict):
        raise DataFileError(f"must be an object, got {type(record).__name__}")
    start_place = record.get("start_place")
    if not isinstance(start_place, dict) or "relocated_geocode" not in start_place:
        raise DataFileError("start_place.relocated_geocode is missing")
    start = _geocode(start_place["relocated_geocode"], "start_place.relocated_geocode")
    results = record.get("route_results")
    if not isinstance(results, dict) or not isinstance(results.get("geocode_list"), list):
        raise DataFileError("route_results.geocode_list is missing")
    geocodes = tuple(_geocode(g, f"route_results.geocode_list[{i}]") for i, g in enumerate(results["geocode_list"]))
    if not geocodes:
        raise DataFileError("route_results.geocode_list is empty")
    info = record.get("milestone_info")
    if not isinstance(info, str):
        raise DataFileError("milestone_info is missing or not a string")
    blocks = parse_milestone_info(info)
    if len(blocks) != len(geocodes):
        raise DataFileError(f"milestone_info has {len(blocks)} blocks but geocode_list has {len(geocodes)} points")
    milestones = []
    for k, block in enumerate(blocks):
        if "to_next_intersection_heading" not in block:
            raise DataFileError(f"milestone {k + 1} has no to_next_intersection_heading")
        try:
            degrees, direction = parse_heading_field(block["to_next_intersection_heading"])
        except ValueError as error:
            raise DataFileError(f"milestone {k + 1}: {error}") from None
        milestones.append(Milestone(block.get("landmarks", NO_LANDMARK), degrees, direction))
    init_heading = record.get("init_heading", 0)
    if isinstance(init_heading, bool) or not isinstance(init_heading, (int, float)) or not math.isfinite(init_heading):
        raise DataFileError(f"init_heading must be a number, got {init_heading!r}")
    dest = record.get("dest_place")
    destination = dest.get("name") if isinstance(dest, dict) and isinstance(dest.get("name"), str) else None
    return Route(index, start, int(init_heading) % 360, geocodes, tuple(milestones), destination, record)


def load_route_file(path: str | Path) -> RouteFile:
    """Read and validate a whole route file; every error names the file (and route) in one line."""
    path = Path(path)
    if not str(path) or str(path) == ".":
        raise RouteFileError("route_info_path is not set; point env_config.route_info_path at a route_infos.json")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RouteFileError(f"route file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise RouteFileError(f"cannot read route file {path}: {error}") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise RouteFileError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(data, list) or len(data) != 2 or not isinstance(data[0], list):
        raise RouteFileError(f"{path}: expected a JSON array [routes, count]")
    count = data[1] if isinstance(data[1], int) and not isinstance(data[1], bool) else len(data[0])
    routes = []
    for index, record in enumerate(data[0]):
        try:
            routes.append(parse_route(record, index))
        except ValueError as error:
            raise RouteFileError(f"{path}: route {index}: {error}") from None
    if not routes:
        raise RouteFileError(f"{path}: the file holds no routes")
    return RouteFile(path, tuple(routes), count)
