"""How GeneralPoints episodes are scored and logged: a correct step, episode success, card recognition (GP-VL),
and the expert answer the oracle policy gives."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Mapping

from envs.general_points import rewards
from envs.general_points.cards import answer_cards


class GeneralPointsAdapter:
    def __init__(self, language_only: bool, lenient: bool = False) -> None:
        self.language_only = language_only
        self.lenient = lenient

    def step_fields(self, answer: str, reward: float, before: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {"correct": reward == rewards.CORRECT}
        if not self.language_only:
            truth = list(info["Plain Cards"])
            read = read_cards(answer, self.lenient)
            fields["recognized_cards"] = sorted(read) == sorted(truth) if read is not None else False
            fields["cards_matched"] = matched_cards(read or [], truth)
            fields["cards_total"] = len(truth)
        return fields

    def episode_success(self, terminated: bool, truncated: bool, info: Mapping[str, Any]) -> bool:
        return bool(terminated)

    def needs_model(self, info: Mapping[str, Any]) -> bool:
        return int(info.get("Remaining Step", 1)) > 0

    def expert_answer(self, info: Mapping[str, Any]) -> str:
        formula = f"{info['Solution'][0]}={info['Target']}"
        return json.dumps({"cards": list(info["Plain Cards"]), "number": list(info["Numbers"]), "formula": formula})

    def episode_fields(self, info: Mapping[str, Any]) -> dict[str, Any]:
        return {"cards": list(info["Cards"])}


def adapter_for(kwargs: Any) -> GeneralPointsAdapter:
    return GeneralPointsAdapter(bool(kwargs.language_only), bool(getattr(kwargs, "lenient_answer_reading", False)))


def read_cards(answer: str, lenient: bool = False) -> list[str] | None:
    """The cards an answer's `cards` field holds, read exactly as the verifier reads them (so recognition and
    the -1.5 card penalty agree); None when the field is absent or unreadable."""
    cards = answer_cards(rewards.read_answer(answer, lenient)["cards"], lenient)
    return cards or None


def matched_cards(read: list[str], truth: list[str]) -> int:
    """How many of the hand's cards the answer names (multiset intersection, order ignored)."""
    return sum((Counter(read) & Counter(truth)).values())
