"""Evaluation throughput (episodes/s).

1. Batched local evaluation against one episode at a time, same tiny model (`tiny-llama`), GP-L rule OOD.
2. `eval-api` with 8 requests in flight against 1, on a loopback OpenAI-compatible server adding 50 ms of
   latency per answer.

    PYTHONPATH=. python bench/eval_throughput.py [--episodes 16] [--api-episodes 40]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import envs  # noqa: F401
from evaluators.evaluation import EvalSettings, evaluate, split_job
from evaluators.splits import get_split


def timed(policy, job, batch_size: int) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        evaluate(policy, [job], EvalSettings(batch_size=batch_size), Path(out))
        return job.num_traj / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--api-episodes", type=int, default=40)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    args = parser.parse_args()

    from evaluators.local_policy import LocalModelPolicy
    from trainers.models import load_model

    split = get_split("gp-l", "rule-ood")
    job = split_job(split, None, args.episodes, 42, verify_iter=2)
    policy = LocalModelPolicy(load_model("tiny-llama", device="cpu"), max_new_tokens=args.max_new_tokens)
    timed(policy, split_job(split, None, 2, 0, verify_iter=1), 2)  # warm-up
    one = timed(policy, job, 1)
    batched = timed(policy, job, args.episodes)
    print(f"local tiny-llama, {args.episodes} episodes x 2 attempts, {args.max_new_tokens} new tokens:")
    print(f"  one at a time: {one:.2f} episodes/s; batched ({args.episodes}): {batched:.2f} episodes/s "
          f"({batched / one:.1f}x)")

    from evaluators.api_client import ChatClient
    from evaluators.api_policy import ApiPolicy
    from evaluators.loopback_server import LoopbackServer

    api_job = split_job(split, None, args.api_episodes, 42)
    with LoopbackServer(latency=0.05) as server:
        rates = {}
        for concurrency in (1, 8):
            with ChatClient(server.base_url, "scripted", None, max_connections=concurrency) as client:
                api = ApiPolicy(client, concurrency)
                rates[concurrency] = timed(api, api_job, 4 * concurrency)
                api.close()
    print(f"eval-api, loopback server with 50 ms latency, {args.api_episodes} episodes:")
    print(f"  concurrency 1: {rates[1]:.2f} episodes/s; concurrency 8: {rates[8]:.2f} episodes/s "
          f"({rates[8] / rates[1]:.1f}x)")


if __name__ == "__main__":
    main()
