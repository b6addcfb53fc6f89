"""Rollout throughput: batched rollouts (all environments in one left-padded generate call) against
one-sample-at-a-time generation (the published design), on the same model, environments and seeds.

    PYTHONPATH=. python bench/ppo_rollout_throughput.py [--model PATH_OR_ID] [--envs 16] [--rounds 3]

Prints env steps/s and generated tokens/s of each mode and the speed-up. Default model: the cached SFT init of
the built-in tiny model that `sftvsrl ppo --env gp` uses (built on first use), else `--model tiny-llama`.
"""

from __future__ import annotations

import argparse
import time

import torch

from trainers.models.loader import load_model
from trainers.ppo.rollout import RolloutSettings, RolloutWorker
from trainers.ppo.storage import RolloutStorage
from trainers.ppo.value_head import PolicyWithValue

GP = {"id": "gym_cards/GeneralPoint-oneline-v0"}


def measure(loaded, policy, envs: int, rounds: int, batched: bool, seed: int) -> dict:
    worker = RolloutWorker(GP, envs, seed)
    settings = RolloutSettings(temperature=0.7, top_p=1.0, max_new_tokens=64, thought_prob_coef=0.5,
                               action_fields=["formula"], generation_batch_size=None if batched else 1,
                               forward_batch_size=envs if batched else 1)
    worker.reset_all()  # build the solution table outside the timing
    torch.manual_seed(seed)
    started = time.perf_counter()
    stats, _ = worker.collect(loaded, policy, RolloutStorage(rounds, envs), settings)
    seconds = time.perf_counter() - started
    return {"mode": "batched" if batched else "one at a time", "env_steps": stats.env_steps,
            "tokens": stats.generated_tokens, "seconds": seconds, "steps_per_s": stats.env_steps / seconds,
            "tokens_per_s": stats.generated_tokens / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--envs", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.model is None:
        from envs.registry import env_kwargs
        from trainers.ppo.init_model import TinyInitRecipe, build_tiny_init, init_folder

        folder = init_folder("tiny-llama", env_kwargs(GP), TinyInitRecipe())
        build_tiny_init(folder, env_kwargs(GP), TinyInitRecipe())
        args.model = str(folder)
    loaded = load_model(args.model, device="cuda" if torch.cuda.is_available() else "cpu", for_training=True)
    policy = PolicyWithValue(loaded.model)
    rows = [measure(loaded, policy, args.envs, args.rounds, batched, args.seed) for batched in (True, False)]
    print(f"model={args.model} envs={args.envs} rounds={args.rounds} threads={args.threads} "
          f"device={loaded.device}")
    print(f"{'mode':<14} {'env steps':>9} {'tokens':>7} {'seconds':>8} {'steps/s':>8} {'tokens/s':>9}")
    for row in rows:
        print(f"{row['mode']:<14} {row['env_steps']:>9} {row['tokens']:>7} {row['seconds']:>8.2f} "
              f"{row['steps_per_s']:>8.2f} {row['tokens_per_s']:>9.1f}")
    print(f"speed-up: {rows[0]['steps_per_s'] / rows[1]['steps_per_s']:.1f}x env steps/s, "
          f"{rows[0]['tokens_per_s'] / rows[1]['tokens_per_s']:.1f}x tokens/s")


if __name__ == "__main__":
    main()
