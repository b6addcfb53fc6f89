"""Playing cards: ranks, suits, names like "HK", and their numeric values under each face-card rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from envs.errors import InputError

RANKS = ("A", "2", "3", "4", "5", "6", "7", "8", "9", "10", "J", "Q", "K")
FACE_RANKS = ("J", "Q", "K")
SUITS = ("H", "D", "S", "C")  # hearts, diamonds, spades, clubs
RED_SUITS = ("H", "D")
BLACK_SUITS = ("S", "C")
SUITS_BY_COLOR: dict[str, tuple[str, ...]] = {"mixed": SUITS, "red": RED_SUITS, "black": BLACK_SUITS}

FaceCardsColor = Literal["mixed", "black", "red"]

_RANK_ALIASES = {"1": "A", "T": "10", "ACE": "A", "JACK": "J", "QUEEN": "Q", "KING": "K"}


@dataclass(frozen=True)
class Card:
    rank: str
    suit: str

    @property
    def name(self) -> str:
        """The published card name: suit letter then rank, e.g. "HK", "S10"."""
        return f"{self.suit}{self.rank}"

    @property
    def is_red(self) -> bool:
        return self.suit in RED_SUITS


def normalize_rank(text: str) -> str | None:
    """"k" -> "K", "1" -> "A", "10" -> "10"; None when it is not a rank."""
    token = str(text).strip().upper()
    token = _RANK_ALIASES.get(token, token)
    return token if token in RANKS else None


def parse_card(text: str, default_suit: str) -> Card:
    """A card from "3", "K", "H3" or "S10"; a plain rank gets `default_suit`."""
    token = str(text).strip().upper()
    if token[:1] in SUITS and normalize_rank(token[1:]) is not None:
        return Card(normalize_rank(token[1:]), token[0])  # type: ignore[arg-type]
    rank = normalize_rank(token)
    if rank is None:
        raise InputError(f"not a card: {text!r} (use A, 2-10, J, Q, K, optionally prefixed by a suit H/D/S/C)")
    return Card(rank, default_suit)


def rank_value(rank: str, treat_face_cards_as_10: bool) -> int:
    """A=1, 2-10 face value, J/Q/K = 10 (ID rule) or 11/12/13 (OOD rule)."""
    index = RANKS.index(rank) + 1
    if index > 10 and treat_face_cards_as_10:
        return 10
    return index


def face_card_rule_text(treat_face_cards_as_10: bool) -> str:
    """The rule sentence the prompt states for the active face-card rule."""
    if treat_face_cards_as_10:
        return "'J', 'Q', and 'K' count as '10'"
    return "'J', 'Q', and 'K' count as '11', '12', and '13' respectively"


def answer_cards(value: object, lenient: bool = False) -> list[str]:
    """The cards an answer's `cards` field holds, as the published verifier compares them with the hand.

    Published rule: the value as text, without `[`, `]`, single quotes and spaces, split on `,`; exactly 4
    items or none. Documented fix: the published reader also turns a strict JSON list, an all-digit list
    (`[10, 10, 3, 2]`) and double-quoted items into no cards at all, although the answer names them; here
    they are read as the same items would be in the published layout. With `lenient`, items are also read
    as ranks ("ha", "T", "king", "1" -> "A", "10", "K", "A").
    """
    if isinstance(value, (list, tuple)):
        if any(isinstance(item, bool) or not isinstance(item, (str, int)) for item in value):
            return []
        if any(isinstance(item, str) and "," in item for item in value):
            return []
        items = [str(item) for item in value]
    elif isinstance(value, str):
        items = value.split(",", 4)
    else:
        return []
    items = [_published_item(item) for item in items]
    if len(items) != 4:
        return []
    return [_lenient_rank(item) for item in items] if lenient else items


def _published_item(item: str) -> str:
    for char in "[]' \"":
        item = item.replace(char, "")
    return item


def _lenient_rank(item: str) -> str:
    text = "".join(item.split()).upper()
    rank = normalize_rank(text) or (normalize_rank(text[1:]) if text[:1] in SUITS else None)
    return rank or text
