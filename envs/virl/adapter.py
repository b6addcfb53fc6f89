"""How V-IRL episodes are scored and logged: a step is correct when its action matches the expert's; success is
the completed route."""

from __future__ import annotations

from typing import Any, Mapping


class NavigationAdapter:
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


def adapter_for(kwargs: Any) -> NavigationAdapter:
    return NavigationAdapter()
