"""How a GP-L policy's first attempts fail: the verifier's verdicts over fresh hands, sampled as in training.

    PYTHONPATH=. python bench/gp_answer_breakdown.py MODEL [--num 200] [--temperature 0.7] [--seed 777]

MODEL is a folder (a PPO checkpoint's `policy/`, an SFT output) or a built-in name. Each hand is dealt fresh
by the environment (J/Q/K = 10), prompted with the project's template, answered once with `generate_batch`
at the given temperature (the PPO default samples at 0.7), and scored by the verifier. Unlike a PPO run's
per-update success rate (about 30 episodes, and biased upward in update 1), this compares two checkpoints
on the same hands with a few hundred answers.
"""

from __future__ import annotations

import argparse
import collections
import json

import torch

from envs.general_points import rewards
from envs.general_points.formula import sequence_errors, tokenize
from gp_hands import first_prompts  # bench/gp_hands.py, beside this script
from trainers.models import generate_batch, load_model

VERDICTS = ("correct", "legal, wrong value", "wrong numbers", "illegal / no formula")


def verdict_class(answer: str, info: dict) -> str:
    """The answer's class. The published verifier adds its penalties up (-3 per sequence error, -2 per number
    error), so the class is read from the formula's faults, the worst first, not from the reward's value."""
    verdict = rewards.verify_answer(answer, info["Plain Cards"], info["Numbers"], 24, check_cards=False)
    if verdict.correct:
        return "correct"
    formula = rewards.read_answer(answer)["formula"]
    tokens = tokenize(formula.split("=", 1)[0]) if isinstance(formula, str) else None
    if tokens is None or sequence_errors(tokens):
        return "illegal / no formula"
    if verdict.reward in (rewards.NO_SOLUTION, rewards.PARTIAL_SOLUTION):
        return "legal, wrong value"
    return "wrong numbers"


def breakdown(model: str, num: int, temperature: float, seed: int) -> dict:
    torch.manual_seed(seed)
    loaded = load_model(model)
    conversations, _, infos = first_prompts(num, seed, language_only=True)
    answers = generate_batch(loaded, conversations, [[] for _ in conversations], max_new_tokens=64,
                             temperature=temperature, do_sample=temperature > 0, batch_size=50)
    counts: collections.Counter = collections.Counter()
    for answer, info in zip(answers, infos):
        counts[verdict_class(answer, info)] += 1
    return {"model": model, "hands": num, "temperature": temperature, "seed": seed,
            "verdicts": {name: counts[name] for name in VERDICTS},
            "first_try_success": counts["correct"] / num, "example_answer": answers[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--num", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=777)
    args = parser.parse_args()
    print(json.dumps(breakdown(args.model, args.num, args.temperature, args.seed), indent=2))


if __name__ == "__main__":
    main()
