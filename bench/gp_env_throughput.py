"""GeneralPoints throughput: episodes per second (reset + one correct step) for GP-L and GP-VL.

Run: python bench/gp_env_throughput.py [--seconds 5] [--resolution 1200]
Targets on a 2-core CPU: GP-L >= 2,000 episodes/s; GP-VL at resolution 1200 >= 50 episodes/s.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym

import envs  # noqa: F401  (registers the ids)


def episodes_per_second(language_only: bool, resolution: int, seconds: float) -> float:
    env = gym.make("gym_cards/GeneralPoint-oneline-v0", language_only=language_only, resolution=resolution)
    _, info = env.reset(seed=0)  # builds the solver table and the card tiles outside the timed loop
    episodes = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        _, info = env.reset()
        answer = json.dumps({"cards": info["Plain Cards"], "number": info["Numbers"], "formula": info["Solution"][0]})
        env.step(answer)
        episodes += 1
    return episodes / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--resolution", type=int, default=1200)
    args = parser.parse_args()
    started = time.perf_counter()
    from envs.general_points.solver import solution_table

    solution_table.cache_clear()
    solution_table(24)
    print(f"solver table (all 1820 hands, target 24): {time.perf_counter() - started:.2f} s")
    print(f"GP-L : {episodes_per_second(True, args.resolution, args.seconds):,.0f} episodes/s")
    print(f"GP-VL: {episodes_per_second(False, args.resolution, args.seconds):,.0f} episodes/s at resolution {args.resolution}")


if __name__ == "__main__":
    main()
