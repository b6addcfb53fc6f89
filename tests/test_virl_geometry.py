"""V-IRL heading vocabulary: relative turn labels (wrapped), compass words and spatial relations."""

import pytest

from envs.virl.geometry import compass_word, geodesic_m, haversine_m, relative_turn, spatial_relation


@pytest.mark.parametrize(
    "previous, following, word",
    [
        (100, 130, "slightly right"),
        (100, 70, "slightly left"),
        (100, 190, "right"),
        (100, 10, "left"),
        (100, 270, "right"),  # +170
        (100, 290, "left"),  # -170
        (350, 10, "slightly right"),  # across north: +20, the published code said "left"
        (10, 350, "slightly left"),
        (0, 45, "slightly right"),
        (0, 315, "slightly left"),
        (200, 200, "slightly left"),  # no turn counts as slightly left, as published
    ],
)
def test_relative_turn_words(previous, following, word):
    assert relative_turn(previous, following) == word


@pytest.mark.parametrize("heading, word", [(0, "north"), (22.5, "north"), (22.6, "northeast"), (337.5, "north"),
                                           (337.4, "northwest"), (177, "south"), (259, "west"), (90, "east")])
def test_compass_words_with_published_tie_breaking(heading, word):
    assert compass_word(heading) == word


@pytest.mark.parametrize("agent, target, relation", [(0, 0, "front"), (0, 22.5, "front"), (0, 67.5, "right front"),
                                                     (259, 121.1, "left behind"), (90, 0, "left"), (350, 170, "behind")])
def test_spatial_relations(agent, target, relation):
    assert spatial_relation(agent, target) == relation


def test_geodesic_and_haversine_agree_at_street_scale():
    a, b = (37.78950378406966, -122.4064316195797), (37.78942451809297, -122.4069914863775)
    assert geodesic_m(a, b) == pytest.approx(50.0, abs=1.0)
    assert abs(geodesic_m(a, b) - haversine_m(a, b)) < 0.3
