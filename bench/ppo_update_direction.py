"""Does one PPO update move the policy toward the advantages on its own rollout buffer?

Runs `sftvsrl ppo` with the given arguments (e.g. `--task gp-l --num_updates=1 --out /tmp/x`) and, around
every PPO update, scores every answer of the buffer with the policy before and after the update (eval mode,
same temperature). Prints the correlation of the log-prob change with the (normalised) advantage, the mean
change for positive / negative advantages and for rewarded (+5) / punished answers, and the mean advantage
per reward. A correct update has a positive correlation and raises rewarded answers; this checks the sign
conventions of the whole pipeline (GAE, normalisation, clipped surrogate, action log-prob) on real data.

    PYTHONPATH=. python bench/ppo_update_direction.py --task gp-l --num_updates=1 --out /tmp/ppo_dir
"""

from __future__ import annotations

import sys

import torch

import trainers.ppo.trainer as trainer_module

_ppo_update = trainer_module.ppo_update


def _buffer_log_probs(policy, storage, temperature: float, pad_id: int) -> torch.Tensor:
    flat = list(range(storage.rounds * storage.num_envs))
    was_training = policy.training
    policy.eval()
    parts = []
    with torch.no_grad():
        for start in range(0, len(flat), 16):
            log_probs, _ = policy(storage.gather(flat[start:start + 16])["transitions"], temperature, pad_id)
            parts.append(log_probs.float().cpu())
    policy.train(was_training)
    return torch.cat(parts)


def _measured_update(engine, storage, settings, pad_id, generator):
    before = _buffer_log_probs(engine.module, storage, settings.temperature, pad_id)
    stats = _ppo_update(engine, storage, settings, pad_id, generator)
    change = _buffer_log_probs(engine.module, storage, settings.temperature, pad_id) - before
    advantages, rewards = storage.advantages.flatten(), storage.rewards.flatten()
    corr = torch.corrcoef(torch.stack([change, advantages]))[0, 1].item()
    print(f"corr(d log-prob, advantage) = {corr:.3f}; mean |d log-prob| = {change.abs().mean():.3f}")
    print(f"mean d log-prob: advantage > 0 {change[advantages > 0].mean():+.3f}, "
          f"advantage < 0 {change[advantages < 0].mean():+.3f}")
    rewarded = rewards > 0
    print(f"mean d log-prob: rewarded answers {change[rewarded].mean():+.3f} (n={int(rewarded.sum())}), "
          f"punished {change[rewards < 0].mean():+.3f} (n={int((rewards < 0).sum())})")
    for value in sorted(set(rewards.tolist()), reverse=True):
        mask = rewards == value
        print(f"  reward {value:+.1f}: n={int(mask.sum())}, mean advantage {advantages[mask].mean():+.3f}")
    return stats


def main() -> None:
    trainer_module.ppo_update = _measured_update
    from sftvsrl_cli.main import cli

    sys.argv = ["sftvsrl", "ppo", *sys.argv[1:]]
    cli()


if __name__ == "__main__":
    main()
