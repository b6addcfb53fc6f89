"""Compute accounting as the paper's x-axis (section 5.4, after Snell et al. 2024 / Hoffmann et al. 2022).

X_RL = 6 N (D_init + D_RL) + 2 N D_buffer: N model parameters; D_RL tokens through forward+backward in the
PPO epochs; D_buffer tokens processed to collect the rollout (prompt prefill, generated tokens, and the
forward that scores them). Vision samples add the image tokens of their images, as the published code's
`token_cnt` adds Llama-3.2-Vision's 1601 visual tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from trainers.ppo.storage import RolloutStorage


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def update_tokens(storage: RolloutStorage, ppo_epoch: int, image_tokens: int, bootstrap_tokens: int) -> tuple[int, int]:
    """(D_RL, D_buffer) of one rank's update: tokens trained on over the PPO epochs, tokens of the rollout."""
    prompt, answer = storage.token_counts()
    images = image_tokens * sum(
        1 for row in storage.transitions for tr in row
        if tr is not None and tr.extra_inputs and "pixel_values" in tr.extra_inputs
    )
    sequence_tokens = prompt + answer + images
    # Generation prefills the prompt and decodes the answer; scoring runs prompt + answer once more.
    return ppo_epoch * sequence_tokens, 2 * sequence_tokens + bootstrap_tokens


@dataclass
class ComputeLedger:
    """Running totals of tokens and FLOPs since the start of training (saved in checkpoints)."""

    parameters: int
    init_flops: float = 0.0
    train_tokens: int = 0
    buffer_tokens: int = 0

    def add_update(self, train_tokens: int, buffer_tokens: int) -> dict[str, float]:
        """Account one update's tokens (summed over ranks); returns its FLOPs and the running total."""
        self.train_tokens += train_tokens
        self.buffer_tokens += buffer_tokens
        return {
            "tokens_train": train_tokens,
            "tokens_buffer": buffer_tokens,
            "flops_train": 6.0 * self.parameters * train_tokens,
            "flops_rollout": 2.0 * self.parameters * buffer_tokens,
            "compute_flops": self.total_flops,
        }

    @property
    def total_flops(self) -> float:
        return self.init_flops + 6.0 * self.parameters * self.train_tokens + 2.0 * self.parameters * self.buffer_tokens

    def state_dict(self) -> dict[str, Any]:
        return {"parameters": self.parameters, "init_flops": self.init_flops, "train_tokens": self.train_tokens,
                "buffer_tokens": self.buffer_tokens}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.parameters = state["parameters"]
        self.init_flops = state["init_flops"]
        self.train_tokens = state["train_tokens"]
        self.buffer_tokens = state["buffer_tokens"]
