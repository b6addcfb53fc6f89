"""`Transition`: one model call of a rollout (the conversation so far, the sampled answer, its token weights)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Transition:
    """One model call of a rollout: the conversation so far (prompt), the sampled answer and its weights."""

    prompt_ids: list[int]
    answer_ids: list[int]
    answer_weights: list[float]
    extra_inputs: dict[str, torch.Tensor] | None = None
    """Vision inputs of the prompt (pixel_values, ...), batch dimension 1, or None for text."""

    @classmethod
    def prompt_only(cls, prompt_ids: list[int], extra_inputs: dict[str, torch.Tensor] | None = None) -> "Transition":
        """A state without an answer, scored for its value alone (the bootstrap after a rollout's last round)."""
        return cls(prompt_ids, [], [], extra_inputs)
