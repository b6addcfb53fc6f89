"""Rollout throughput: batched rollouts (all environments in one left-padded generate call, log-probs and
values taken from that call) against one-sample-at-a-time generation followed by a scoring forward per sample
(the published design), on the same model, environments and seeds. A third row, batched sampling with a
batched scoring forward (`--rollout-scoring forward`), shows what each of the two changes gives.

    PYTHONPATH=. python bench/ppo_rollout_throughput.py [--model PATH_OR_ID] [--envs 32] [--rounds 2]
                                                        [--verify-iter 5]

`--envs 24 --rounds 6 --verify-iter 1` is the rollout of `sftvsrl ppo --task gp-l` (one attempt per hand).

Prints env steps/s and generated tokens/s of each mode and the speed-up. Default model: the cached SFT init of
the built-in tiny model that `sftvsrl ppo --task gp-l` uses (built on first use), else `--model tiny-llama`.
"""

from __future__ import annotations

import argparse
import time

import torch

from trainers.models.loader import load_model
from trainers.ppo.rollout import RolloutSettings, RolloutWorker
from trainers.ppo.sampling import sample_answers
from trainers.ppo.storage import RolloutStorage
from trainers.ppo.value_head import PolicyWithValue

GP = {"id": "gym_cards/GeneralPoint-oneline-v0"}


def measure(loaded, policy, env_config: dict, envs: int, rounds: int, batched: bool, seed: int,
            scoring: str) -> dict:
    worker = RolloutWorker(env_config, envs, seed)
    settings = RolloutSettings(temperature=0.7, top_p=1.0, max_new_tokens=64, thought_prob_coef=0.5,
                               action_fields=["formula"], generation_batch_size=None if batched else 1,
                               forward_batch_size=envs if batched else 1, scoring=scoring)
    worker.reset_all()  # build the solution table outside the timing
    torch.manual_seed(seed)
    started = time.perf_counter()
    stats = worker.collect(loaded, policy, RolloutStorage(rounds, envs), settings)
    seconds = time.perf_counter() - started
    mode = f"batched, scored by {scoring}" if batched else f"one at a time, scored by {scoring}"
    return {"mode": mode, "env_steps": stats.env_steps,
            "tokens": stats.generated_tokens, "seconds": seconds, "steps_per_s": stats.env_steps / seconds,
            "tokens_per_s": stats.generated_tokens / seconds}


def measure_generation(loaded, policy, env_config: dict, envs: int, batched: bool, seed: int) -> dict:
    """Sampling alone (no scoring forward, no environment): the first prompts of `envs` fresh episodes."""
    worker = RolloutWorker(env_config, envs, seed)
    worker.reset_all()
    prompts = worker._prompts(loaded)
    torch.manual_seed(seed)
    started = time.perf_counter()
    answers = sample_answers(loaded, policy.backbone, prompts, temperature=0.7, top_p=1.0, max_new_tokens=64,
                             batch_size=None if batched else 1)
    seconds = time.perf_counter() - started
    tokens = sum(len(a) for a in answers)
    return {"mode": ("batched" if batched else "one at a time") + " (generation only)", "env_steps": len(answers),
            "tokens": tokens, "seconds": seconds, "steps_per_s": len(answers) / seconds, "tokens_per_s": tokens / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--envs", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--verify-iter", type=int, default=5, help="attempts per hand (GP's verify_iter)")
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
    env_config = {**GP, "verify_iter": args.verify_iter}
    rows = [measure(loaded, policy, env_config, args.envs, args.rounds, batched, args.seed, scoring)
            for batched, scoring in ((True, "generation"), (False, "forward"), (True, "forward"))]
    generation = [measure_generation(loaded, policy, env_config, args.envs, batched, args.seed)
                  for batched in (True, False)]
    print(f"model={args.model} envs={args.envs} rounds={args.rounds} verify_iter={args.verify_iter} "
          f"threads={args.threads} device={loaded.device}")
    print(f"{'mode':<40} {'samples':>7} {'tokens':>7} {'seconds':>8} {'samples/s':>9} {'tokens/s':>9}")
    for row in rows + generation:
        print(f"{row['mode']:<40} {row['env_steps']:>7} {row['tokens']:>7} {row['seconds']:>8.2f} "
              f"{row['steps_per_s']:>9.2f} {row['tokens_per_s']:>9.1f}")
    comparisons = (("rollout (sample + score + step), batched vs published", rows[:2]),
                   ("rollout, batched sampling + batched forward vs published", [rows[2], rows[1]]),
                   ("generation only", generation))
    for label, (fast, slow) in comparisons:
        print(f"speed-up, {label}: {fast['steps_per_s'] / slow['steps_per_s']:.1f}x env steps/s, "
              f"{fast['tokens_per_s'] / slow['tokens_per_s']:.1f}x tokens/s")


if __name__ == "__main__":
    main()
