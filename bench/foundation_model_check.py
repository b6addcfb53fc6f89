"""Build `tiny-llama-base` (once, cached) and print its success on GP-L's ID and rule-OOD splits before any
post-training: the figures docs/foundation-model.md reports (greedy, one attempt, standard errors).

    python bench/foundation_model_check.py [--episodes 234] [--seed 42]

The build takes about 14 minutes of one CPU core the first time; later runs reuse the cache.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=234)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="outputs/bench/foundation-model")
    args = parser.parse_args()
    started = time.perf_counter()
    command = [sys.executable, "-m", "sftvsrl_cli", "eval", "--model", "tiny-llama-base", "--split", "id,rule-ood",
               "--num-traj", str(args.episodes), "--verify-iter", "1", "--max-new-tokens", "64", "--seed",
               str(args.seed), "--out", args.out, "--json"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"eval failed ({done.returncode}):\n{done.stderr[-2000:]}")
    splits = json.loads(done.stdout)["splits"]
    print(f"tiny-llama-base before post-training, {args.episodes} episodes per split, seed {args.seed} "
          f"({time.perf_counter() - started:.0f} s including any build)")
    for name, split in splits.items():
        metric = split["metrics"]["success"]
        print(f"  {name:9s} success {100 * metric['rate']:5.1f}% ± {100 * metric['stderr']:.1f}"
              f"  ({metric['hits']}/{split['num_traj']})")


if __name__ == "__main__":
    main()
