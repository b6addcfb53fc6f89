"""Draw the GP-VL table image: four playing cards on green felt, drawn with Pillow (no image assets).

Each card is a white rounded rectangle with its rank in two corners and large in the centre, and suit symbols
drawn as polygons and circles in red or black ink. Card tiles are cached per (rank, suit, size), so rendering
a hand is four pastes onto a copy of the background.
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from envs.general_points.cards import RED_SUITS, Card

TABLE_COLOR = (0x35, 0x65, 0x4D)
RED_INK = (200, 16, 46)
BLACK_INK = (17, 17, 17)


def _ink(suit: str) -> tuple[int, int, int]:
    return RED_INK if suit in RED_SUITS else BLACK_INK


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(8, size))


def draw_suit(draw: ImageDraw.ImageDraw, cx: float, cy: float, size: float, suit: str) -> None:
    """A suit symbol of height about 2*size centred on (cx, cy)."""
    fill = _ink(suit)
    s = size
    if suit == "D":
        draw.polygon([(cx, cy - s), (cx + 0.72 * s, cy), (cx, cy + s), (cx - 0.72 * s, cy)], fill=fill)
    elif suit == "H":
        r = 0.5 * s
        for x in (cx - r, cx + r):
            draw.ellipse([x - r, cy - 0.35 * s - r, x + r, cy - 0.35 * s + r], fill=fill)
        draw.polygon([(cx - s, cy - 0.25 * s), (cx + s, cy - 0.25 * s), (cx, cy + s)], fill=fill)
    elif suit == "S":
        r = 0.5 * s
        for x in (cx - r, cx + r):
            draw.ellipse([x - r, cy + 0.15 * s - r, x + r, cy + 0.15 * s + r], fill=fill)
        draw.polygon([(cx, cy - s), (cx - s, cy + 0.1 * s), (cx + s, cy + 0.1 * s)], fill=fill)
        draw.polygon([(cx, cy + 0.2 * s), (cx - 0.4 * s, cy + s), (cx + 0.4 * s, cy + s)], fill=fill)
    else:  # clubs
        r = 0.42 * s
        for x, y in ((cx, cy - 0.45 * s), (cx - 0.47 * s, cy + 0.12 * s), (cx + 0.47 * s, cy + 0.12 * s)):
            draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)
        draw.polygon([(cx, cy), (cx - 0.38 * s, cy + s), (cx + 0.38 * s, cy + s)], fill=fill)


@functools.lru_cache(maxsize=256)
def card_tile(rank: str, suit: str, width: int, height: int) -> Image.Image:
    """One card face as an RGBA image (transparent outside the rounded corners)."""
    tile = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(tile)
    radius = max(2, width // 12)
    border = max(1, width // 80)
    draw.rounded_rectangle([0, 0, width - 1, height - 1], radius=radius, fill=(250, 250, 247), outline=(90, 90, 90), width=border)
    ink = _ink(suit)
    corner_font = _font(int(width * 0.2))
    pad = width * 0.07
    draw.text((pad, pad), rank, font=corner_font, fill=ink)
    draw_suit(draw, pad + width * 0.08, pad + width * 0.33, width * 0.07, suit)
    centre_font = _font(int(width * 0.42))
    draw.text((width / 2, height * 0.40), rank, font=centre_font, fill=ink, anchor="mm")
    draw_suit(draw, width / 2, height * 0.72, width * 0.14, suit)
    # The bottom-right corner index, upside down as on a real card.
    corner = Image.new("RGBA", (int(width * 0.4), int(width * 0.5)), (0, 0, 0, 0))
    corner_draw = ImageDraw.Draw(corner)
    corner_draw.text((pad, pad), rank, font=corner_font, fill=ink)
    draw_suit(corner_draw, pad + width * 0.08, pad + width * 0.33, width * 0.07, suit)
    corner = corner.rotate(180)
    tile.alpha_composite(corner, (width - corner.width, height - corner.height))
    return tile


@functools.lru_cache(maxsize=8)
def _layout(resolution: int) -> tuple[Image.Image, int, int, list[tuple[int, int]]]:
    margin = resolution * 0.04
    gap = resolution * 0.03
    width = int((resolution - 2 * margin - 3 * gap) / 4)
    height = int(width * 1.4)
    top = (resolution - height) // 2
    positions = [(int(margin + i * (width + gap)), top) for i in range(4)]
    background = Image.new("RGB", (resolution, resolution), TABLE_COLOR)
    return background, width, height, positions


def render_table(cards: Sequence[Card], resolution: int) -> np.ndarray:
    """The table with `cards` laid left to right, as an (H, W, 3) uint8 array."""
    background, width, height, positions = _layout(resolution)
    image = background.copy()
    for card, position in zip(cards, positions):
        tile = card_tile(card.rank, card.suit, width, height)
        image.paste(tile, position, tile)
    return np.asarray(image)
