"""Visual styles of synthetic cities: facades, palettes, sign lettering, street furniture, place names.

The training city uses one style and visual-OOD test cities others, as the paper trains in New York and tests
in other cities. Styles differ in everything a vision model could latch onto: sky and ground colours,
building heights and palettes, window shapes, storefront and sign colours, sign lettering (case, weight,
slant), furniture (street lamps, trees, bollards) and the words in street names.
"""

from __future__ import annotations

from dataclasses import dataclass

from envs.errors import InputError

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class VisualStyle:
    name: str
    description: str
    sky_top: RGB
    sky_horizon: RGB
    haze: RGB
    road: RGB
    road_marking: RGB
    sidewalk: RGB
    facades: tuple[RGB, ...]
    window: RGB
    window_frame: RGB
    storefront: tuple[RGB, ...]
    sign_boards: tuple[RGB, ...]
    sign_text: tuple[RGB, ...]
    building_height: tuple[float, float]
    building_width: tuple[float, float]
    window_width: float
    """Fraction of each window bay that is glass (narrow vertical windows < 0.4 < wide ones)."""
    floor_height: float
    sign_case: str
    """"upper", "title" or "lower"."""
    sign_stroke: int
    sign_slant: float
    """Horizontal shear of sign lettering (0 upright, 0.25 italic)."""
    furniture: str
    """"lamps", "trees" or "bollards"."""
    furniture_color: RGB
    street_words: tuple[str, ...]


STYLES: dict[str, VisualStyle] = {
    "metropolis": VisualStyle(
        name="metropolis",
        description="tall brick and stone blocks, grey asphalt, white upper-case signs on dark boards, lamp posts",
        sky_top=(96, 148, 214), sky_horizon=(196, 216, 236), haze=(170, 178, 190),
        road=(72, 72, 76), road_marking=(236, 220, 120), sidewalk=(160, 156, 150),
        facades=((142, 72, 56), (120, 64, 52), (168, 150, 128), (110, 110, 116), (176, 96, 70), (92, 84, 80)),
        window=(60, 78, 96), window_frame=(210, 205, 195),
        storefront=((40, 44, 52), (70, 30, 30), (30, 50, 40)),
        sign_boards=((20, 24, 32), (120, 20, 24), (16, 60, 40), (30, 40, 110)),
        sign_text=((250, 250, 250), (255, 220, 90)),
        building_height=(14.0, 42.0), building_width=(9.0, 22.0), window_width=0.45, floor_height=3.4,
        sign_case="upper", sign_stroke=1, sign_slant=0.0, furniture="lamps", furniture_color=(40, 46, 40),
        street_words=("Street", "Avenue", "Broadway"),
    ),
    "mediterranean": VisualStyle(
        name="mediterranean",
        description="low pastel stucco houses, terracotta, warm light, dark italic signs on cream boards, trees",
        sky_top=(70, 150, 230), sky_horizon=(235, 225, 200), haze=(225, 210, 180),
        road=(120, 110, 100), road_marking=(245, 245, 240), sidewalk=(214, 196, 160),
        facades=((236, 200, 150), (220, 160, 120), (240, 226, 190), (190, 120, 90), (230, 190, 200), (180, 200, 170)),
        window=(40, 90, 80), window_frame=(250, 245, 235),
        storefront=((120, 60, 40), (60, 90, 120), (90, 110, 60)),
        sign_boards=((245, 236, 210), (250, 250, 245), (220, 240, 235)),
        sign_text=((120, 40, 30), (20, 60, 110)),
        building_height=(7.0, 16.0), building_width=(6.0, 13.0), window_width=0.3, floor_height=3.1,
        sign_case="title", sign_stroke=0, sign_slant=0.25, furniture="trees", furniture_color=(60, 120, 50),
        street_words=("Via", "Piazza", "Corso"),
    ),
    "nordic": VisualStyle(
        name="nordic",
        description="dark timber and white render under a grey sky, wide windows, lower-case signs on yellow, bollards",
        sky_top=(150, 160, 172), sky_horizon=(215, 220, 226), haze=(200, 204, 210),
        road=(58, 60, 64), road_marking=(250, 250, 250), sidewalk=(120, 126, 130),
        facades=((40, 44, 48), (230, 232, 228), (150, 40, 36), (70, 90, 100), (200, 190, 160), (30, 60, 50)),
        window=(190, 200, 170), window_frame=(20, 20, 20),
        storefront=((20, 20, 22), (200, 200, 196)),
        sign_boards=((250, 210, 40), (240, 120, 30), (250, 250, 250)),
        sign_text=((15, 15, 15), (30, 30, 90)),
        building_height=(9.0, 24.0), building_width=(8.0, 16.0), window_width=0.7, floor_height=3.0,
        sign_case="lower", sign_stroke=0, sign_slant=-0.12, furniture="bollards", furniture_color=(230, 180, 20),
        street_words=("gata", "vagen", "torg"),
    ),
}


def get_style(name: str) -> VisualStyle:
    if name not in STYLES:
        raise InputError(f"unknown city style {name!r}; choose one of {', '.join(STYLES)}")
    return STYLES[name]
