"""The PPO update over one rollout buffer: `ppo_epoch` passes of shuffled mini-batches with accumulation.

Names follow cleanrl (`pg_loss`, `v_loss`, `approx_kl`, `clipfracs`). Mini-batches hold `mini_batch_size`
transitions; the optimiser steps every `grad_accum_steps` mini-batches (the engine decides), after
grad-norm clipping at `max_grad_norm`.
"""

from __future__ import annotations

import torch

from trainers.ppo.ppo_math import ppo_losses
from trainers.ppo.settings import UpdateSettings
from trainers.ppo.storage import RolloutStorage

__all__ = ["UpdateSettings", "answer_lengths", "critic_warmup", "explained_variance", "ppo_update"]


def answer_lengths(transitions) -> torch.Tensor:
    """Each answer's weighted token count (the sum of its log-prob weights), at least 1."""
    return torch.tensor([max(sum(t.answer_weights), 1.0) for t in transitions])


def ppo_update(engine, storage: RolloutStorage, settings: UpdateSettings, pad_id: int,
               generator: torch.Generator) -> dict[str, float]:
    """Run the PPO epochs; returns mean losses and statistics over all mini-batches."""
    totals = {"policy_loss": 0.0, "value_loss": 0.0, "approx_kl": 0.0, "clip_fraction": 0.0, "ratio_guard": 0.0}
    grad_norms: list[float] = []
    count = 0
    engine.module.train()
    for _ in range(settings.ppo_epoch):
        for indices in storage.minibatches(settings.mini_batch_size, generator):
            batch = storage.gather(indices)
            new_log_probs, new_values = engine.forward(batch["transitions"], settings.temperature, pad_id)
            new_scores, old_scores = new_log_probs.float().cpu(), batch["old_log_probs"]
            if settings.ratio_normalization == "length":
                lengths = answer_lengths(batch["transitions"])
                new_scores, old_scores = new_scores / lengths, old_scores / lengths
            out = ppo_losses(new_scores, old_scores, batch["advantages"],
                             new_values.float().cpu(), batch["old_values"], batch["returns"],
                             settings.clip_param, settings.value_loss_coef)
            loss = out.loss
            if settings.use_entropy_bonus and settings.entropy_coef:
                # Sequence-level entropy estimate -E[log pi(a)] from the sampled answers (not in the published loss).
                loss = loss + settings.entropy_coef * new_log_probs.float().cpu().mean()
            boundary = engine.is_boundary()
            engine.backward(loss)
            engine.step()
            if boundary and engine.last_grad_norm is not None:
                grad_norms.append(engine.last_grad_norm)
            totals["policy_loss"] += out.policy_loss.item()
            totals["value_loss"] += out.value_loss.item()
            totals["approx_kl"] += float(out.approx_kl)
            totals["clip_fraction"] += float(out.clip_fraction)
            totals["ratio_guard"] += float(out.ratio_guard_hit)
            count += 1
    stats = {key: value / max(count, 1) for key, value in totals.items()}
    stats["grad_norm"] = sum(grad_norms) / len(grad_norms) if grad_norms else None
    stats["optimizer_steps"] = len(grad_norms)
    stats["explained_variance"] = explained_variance(storage.values.flatten(), storage.returns.flatten())
    return stats


def explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> float | None:
    variance = torch.var(target)
    if variance.item() == 0:
        return None
    return float(1 - torch.var(target - predicted) / variance)


def critic_warmup(engine, storage: RolloutStorage, epochs: int, mini_batch_size: int, pad_id: int, lr: float,
                  generator: torch.Generator) -> float | None:
    """Fit the value head alone (backbone frozen, so its inputs are computed once) to the rollout's returns;
    returns the last epoch's mean squared error. Gradients are averaged over ranks, so every rank keeps the
    same value head."""
    if epochs <= 0:
        return None
    policy = engine.module
    head = engine.value_head_copy()  # trained outside the engine, written back below
    flat = list(range(storage.rounds * storage.num_envs))
    with torch.no_grad():
        features = torch.cat([policy.last_prompt_hidden(storage.gather(flat[i:i + 16])["transitions"], pad_id)
                              for i in range(0, len(flat), 16)]).to(head.net[0].weight.dtype)
    targets = storage.returns.flatten()
    optimizer = torch.optim.Adam(head.parameters(), lr=lr)
    losses: list[float] = []
    for _ in range(epochs):
        losses = []
        for indices in storage.minibatches(mini_batch_size, generator):
            values = head(features[indices]).float().cpu()
            loss = ((values - targets[indices]) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for parameter in head.parameters():
                parameter.grad = engine.all_reduce_mean(parameter.grad.cpu()).to(parameter.grad)
            optimizer.step()
            losses.append(loss.item())
    engine.load_value_head(head.state_dict())
    return sum(losses) / len(losses)
