"""The expert "rail": every movable point of a route with its heading, expert action and oracle texts.

Anchors are the start and the K milestones. Between two anchors more than 5 m apart, `straight_line_length`
evenly spaced candidates are interpolated, each dropped with probability `drop_rate`; with `relocation` each
candidate is snapped to the nearest panorama within the mapping radius and kept only if it stays more than
8 m from both ends. Turns happen only at anchors; the rail, not the agent, carries the heading.

Deviations from the published rail (README, "Deviations from the published V-IRL code"): the candidate at fraction 1 (the next anchor
itself) is never added, also without relocation; the sentence index advances for every segment, also one of
5 m or less; an anchor with no panorama within the radius is an error naming the route and milestone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from envs.errors import DataFileError
from envs.virl.actions import FORWARD, STOP, turn
from envs.virl.geometry import Geocode, geodesic_m, interpolate
from envs.virl.instructions import instruction_sentences, relative_words
from envs.virl.pano_index import PanoIndex
from envs.virl.routes import Route

NO_LANDMARKS = "No landmarks nearby"  # the env's text for the start and straight segments (plural)
INTERSECTION_SEEN = "You observe an intersection"
INTERPOLATION_MIN_M = 5.0
KEEP_AWAY_M = 8.0


class RailError(DataFileError):
    """A route whose rail cannot be built offline, named in one line."""


@dataclass(frozen=True)
class RailPoint:
    geocode: Geocode
    pano_id: str | None
    heading: float
    absolute_action: str
    relative_action: str
    landmark_observation: str
    intersection_observation: str
    instruction: str
    instruction_idx: int
    """1-based index of `instruction` in the numbered instruction."""
    milestone: int | None
    """0 for the start, k for milestone k (1-based), None for a point between anchors."""

    def expert_action(self, absolute: bool) -> str:
        return self.absolute_action if absolute else self.relative_action

    @property
    def oracle_observation(self) -> str:
        return f"{self.landmark_observation}; {self.intersection_observation}"


@dataclass(frozen=True)
class RailSettings:
    relocation: bool = True
    drop_rate: float = 0.5
    straight_line_length: int = 5
    mapping_radius: float = 20.0


def build_rail(
    route: Route,
    start: Geocode,
    start_pano: str | None,
    initial_heading: float,
    settings: RailSettings,
    rng: np.random.Generator,
    pano_index: PanoIndex | None,
    source: str = "route file",
) -> tuple[list[RailPoint], list[str]]:
    """The rail of `route` from the (already snapped) `start`, and the instruction sentences."""
    milestones = route.milestones
    sentences = instruction_sentences(initial_heading, milestones)
    rel_words = relative_words(initial_heading, milestones)
    headings = [initial_heading, *(m.heading for m in milestones)]
    last = len(milestones)
    rail = [
        RailPoint(start, start_pano, initial_heading, turn(milestones[0].direction), turn(rel_words[0]),
                  NO_LANDMARKS, "", sentences[0], 1, 0)
    ]
    previous = start
    for k in range(1, last + 1):
        raw_anchor = route.geocodes[k - 1]
        distance = geodesic_m(previous, raw_anchor)
        anchor, anchor_pano = raw_anchor, None
        if settings.relocation:
            found = pano_index.relocate(raw_anchor, settings.mapping_radius) if pano_index else None
            if found is None:
                raise RailError(
                    f"{source}: route {route.index}: milestone {k} at {raw_anchor} has no panorama within "
                    f"{settings.mapping_radius:g} m"
                )
            anchor, anchor_pano = found
        segment_sentence = 2 * k  # 1-based "Move forward ..." sentence of the segment ending here
        if distance > INTERPOLATION_MIN_M:
            rail.extend(
                _segment_points(previous, anchor, headings[k], sentences[segment_sentence - 1], segment_sentence,
                                settings, rng, pano_index)
            )
        is_stop = k == last
        sentence = segment_sentence if is_stop else 2 * k + 1
        rail.append(
            RailPoint(
                anchor,
                anchor_pano,
                headings[k],
                STOP if is_stop else turn(milestones[k].direction),
                STOP if is_stop else turn(rel_words[k]),
                milestones[k - 1].landmark,
                "" if is_stop else INTERSECTION_SEEN,
                sentences[sentence - 1],
                sentence,
                k,
            )
        )
        previous = anchor
    return rail, sentences


def _segment_points(
    start: Geocode,
    end: Geocode,
    heading: float,
    sentence: str,
    sentence_idx: int,
    settings: RailSettings,
    rng: np.random.Generator,
    pano_index: PanoIndex | None,
) -> Sequence[RailPoint]:
    n = settings.straight_line_length
    points = []
    for i in range(1, n + 1):
        dropped = rng.random() < settings.drop_rate
        if dropped or i == n:
            continue
        point, pano = interpolate(start, end, i / n), None
        if settings.relocation:
            found = pano_index.relocate(point, settings.mapping_radius) if pano_index else None
            if found is None:
                continue
            point, pano = found
            if geodesic_m(start, point) <= KEEP_AWAY_M or geodesic_m(end, point) <= KEEP_AWAY_M:
                continue
        points.append(RailPoint(point, pano, heading, FORWARD, FORWARD, NO_LANDMARKS, "", sentence, sentence_idx, None))
    return points
