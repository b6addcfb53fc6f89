"""What the evaluators need to know about each environment: how an answer is scored, when an episode is a
success, when the environment no longer needs the model, and the expert answer (for the oracle policy).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any, Mapping, Protocol

from envs.answer_parsing import extract_fields
from envs.general_points import rewards as gp_rewards
from envs.general_points.cards import normalize_rank
from evaluators.splits import GP_ENV_ID, VIRL_ENV_ID


class TaskAdapter(Protocol):
    def step_fields(self, answer: str, reward: float, before: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
        """Per-step log fields: `correct`, plus task-specific ones; `before` is the info the answer was given
        on, `info` the environment's reply."""
        ...

    def episode_success(self, terminated: bool, truncated: bool, info: Mapping[str, Any]) -> bool: ...

    def needs_model(self, info: Mapping[str, Any]) -> bool:
        """False when the next step only closes the episode (all attempts used) and any answer does."""
        ...

    def expert_answer(self, info: Mapping[str, Any]) -> str: ...

    def episode_fields(self, info: Mapping[str, Any]) -> dict[str, Any]:
        """What identifies the episode in the log (the hand, the route)."""
        ...


class GeneralPointsAdapter:
    def __init__(self, language_only: bool) -> None:
        self.language_only = language_only

    def step_fields(self, answer: str, reward: float, before: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {"correct": reward == gp_rewards.CORRECT}
        if not self.language_only:
            truth = list(info["Plain Cards"])
            read = read_cards(answer)
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


class NavigationAdapter:
    """V-IRL: a step is correct when its action matches the expert's; success is the completed route."""

    def step_fields(self, answer: str, reward: float, before: Mapping[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
        return {"correct": bool(info.get("step_correct")), "reward_type": info.get("reward_type"),
                "rail_index": before.get("rail_index"), "expert_action": before.get("expert_action")}

    def episode_success(self, terminated: bool, truncated: bool, info: Mapping[str, Any]) -> bool:
        return bool(info.get("route_success"))

    def needs_model(self, info: Mapping[str, Any]) -> bool:
        return int(info.get("Remaining Step", 1)) > 0

    def expert_answer(self, info: Mapping[str, Any]) -> str:
        from envs.virl.prompts import expert_answer

        return expert_answer(info)

    def episode_fields(self, info: Mapping[str, Any]) -> dict[str, Any]:
        return {"route_idx": info.get("route_idx"), "rail_length": info.get("rail_length")}


def read_cards(answer: str) -> list[str] | None:
    """The ranks named by an answer's `cards` field ("K", "HK", "king" -> "K"); None when absent or unreadable."""
    cards = extract_fields(answer, ("cards",)).get("cards")
    if not isinstance(cards, (list, tuple)) or len(cards) > 16:
        return None
    ranks = []
    for card in cards:
        text = str(card).strip().upper()[:16]
        rank = normalize_rank(text) or (normalize_rank(text[1:]) if text[:1] in "HDSC" else None)
        if rank is None:
            return None
        ranks.append(rank)
    return ranks


def matched_cards(read: list[str], truth: list[str]) -> int:
    """How many of the hand's cards the answer names (multiset intersection, order ignored)."""
    return sum((Counter(read) & Counter(truth)).values())


def adapter_for(env_config: Mapping[str, Any]) -> TaskAdapter:
    env_id = env_config.get("id", GP_ENV_ID)
    if env_id == GP_ENV_ID:
        return GeneralPointsAdapter(bool(env_config.get("language_only", True)))
    if env_id == VIRL_ENV_ID:
        return NavigationAdapter()
    raise ValueError(f"no evaluator for environment {env_id!r}")
