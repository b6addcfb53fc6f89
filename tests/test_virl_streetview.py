"""Panorama projection (north rotation, heading convention) and the 2x2 grid layout of V-IRL-VL."""

import numpy as np
import pytest

from envs.virl.streetview import SEPARATOR_PX, compose_grid, grid_headings, perspective_view


def heading_panorama(width=720, rotation=0.0):
    """A panorama whose red channel encodes the compass heading of each column (value = heading / 2)."""
    columns = (np.arange(width) + 0.5) / width * 360.0
    headings = (columns - rotation) % 360.0
    pano = np.zeros((width // 2, width, 3), dtype=np.uint8)
    pano[..., 0] = (headings / 2).astype(np.uint8)[None, :]
    pano[: width // 4, :, 2] = 255  # sky (top half) is blue
    return pano


@pytest.mark.parametrize("rotation", [0.0, 37.5, 300.0])
@pytest.mark.parametrize("heading", [10.0, 90.0, 200.0, 350.0])
def test_view_centre_looks_at_the_requested_compass_heading(rotation, heading):
    view = perspective_view(heading_panorama(rotation=rotation), rotation, heading, 90, 0, (65, 65))
    centre = int(view[32, 32, 0]) * 2
    assert min(abs(centre - heading), 360 - abs(centre - heading)) <= 2
    right = int(view[32, 60, 0]) * 2  # the right edge looks clockwise of the centre
    assert 30 <= (right - heading) % 360 <= 50
    assert view[5, 32, 2] == 255 and view[60, 32, 2] == 0  # up is sky, down is ground


def test_positive_pitch_looks_up():
    pano = heading_panorama()
    level = perspective_view(pano, 0, 0, 60, 0, (33, 33))
    up = perspective_view(pano, 0, 0, 60, 40, (33, 33))
    assert up[..., 2].mean() > level[..., 2].mean()


def test_grid_layout_positions_and_separators():
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)]
    views = [np.full((20, 20, 3), c, dtype=np.uint8) for c in colours]
    grid = compose_grid(views, 30)
    step = 30 + SEPARATOR_PX
    assert grid.shape == (2 * 30 + SEPARATOR_PX, 2 * 30 + SEPARATOR_PX, 3)
    for i, colour in enumerate(colours):
        y, x = (i // 2) * step, (i % 2) * step
        assert tuple(grid[y + 15, x + 15]) == colour
    assert not grid[:, 30:step].any() and not grid[30:step, :].any()


def test_grid_headings_published_and_cardinal():
    assert grid_headings(100, "published") == [325, 55, 145, 235]
    assert grid_headings(100, "cardinal") == [100, 190, 280, 10]
