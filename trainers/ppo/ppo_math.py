"""The PPO math as small pure tensor functions: GAE, advantage normalisation and the clipped losses.

Shapes: T rollout rounds, E environments side by side, B samples in a mini-batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

RATIO_GUARD = 10.0
"""Published detail (RL4VLM): if any ratio in a mini-batch exceeds this, only the clipped surrogate is used."""


def compute_gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    dones: torch.Tensor,
    next_value: torch.Tensor,
    gamma: float,
    gae_lambda: float,
    truncated: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation (Schulman et al. 2016, https://arxiv.org/abs/1506.02438).

    rewards, values, dones: (T, E), where dones[t] says the episode ended with step t. next_value: (E,), the
    critic's value of the state after the last step, used for episodes still running at the end.
    truncated: (T, E) or None; with it (use_proper_time_limits), a truncated step gets zero advantage and
    its value as return, as pytorch-a2c-ppo-acktr's `bad_masks` do.
    Returns (advantages, returns), both (T, E).
    """
    steps = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    gae = torch.zeros_like(next_value)
    following_value = next_value
    for t in reversed(range(steps)):
        nonterminal = 1.0 - dones[t]
        delta = rewards[t] + gamma * following_value * nonterminal - values[t]
        gae = delta + gamma * gae_lambda * nonterminal * gae
        if truncated is not None:
            gae = gae * (1.0 - truncated[t])
        advantages[t] = gae
        following_value = values[t]
    return advantages, advantages + values


def normalize_advantages(advantages: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(A - mean) / (std + eps) over every element, as the published trainer does."""
    if advantages.numel() < 2:
        return advantages - advantages.mean()
    return (advantages - advantages.mean()) / (advantages.std() + eps)


@dataclass
class PPOLosses:
    loss: torch.Tensor
    policy_loss: torch.Tensor
    value_loss: torch.Tensor
    approx_kl: torch.Tensor
    clip_fraction: torch.Tensor
    ratio_guard_hit: bool


def ppo_losses(
    new_log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    clip_param: float,
    value_loss_coef: float,
) -> PPOLosses:
    """The clipped surrogate and clipped value loss of one mini-batch; every input has shape (B,).

    Policy: -min(r A, clip(r, 1-c, 1+c) A), or -clip(r) A alone when any r > RATIO_GUARD (published detail).
    Value: 0.5 max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2) (pytorch-a2c-ppo-acktr).
    approx_kl is the k3 estimator E[(r - 1) - log r] (http://joschu.net/blog/kl-approx.html).
    """
    log_ratio = new_log_probs - old_log_probs
    ratio = torch.exp(log_ratio)
    surrogate = ratio * advantages
    clipped_surrogate = torch.clamp(ratio, 1.0 - clip_param, 1.0 + clip_param) * advantages
    guard_hit = bool((ratio > RATIO_GUARD).any())
    if guard_hit:
        policy_loss = -clipped_surrogate.mean()
    else:
        policy_loss = -torch.min(surrogate, clipped_surrogate).mean()

    clipped_values = old_values + (new_values - old_values).clamp(-clip_param, clip_param)
    value_loss = 0.5 * torch.max((new_values - returns) ** 2, (clipped_values - returns) ** 2).mean()

    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
        clip_fraction = ((ratio - 1.0).abs() > clip_param).float().mean()
    return PPOLosses(policy_loss + value_loss_coef * value_loss, policy_loss, value_loss, approx_kl, clip_fraction,
                     guard_hit)
