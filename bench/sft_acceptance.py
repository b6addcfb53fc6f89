"""Score an SFT model on fresh GeneralPoints hands: JSON-format rate, card recognition and first-try success.

    python bench/sft_acceptance.py MODEL [--variant l|vl] [--num 200] [--seed 12345] [--color black]

MODEL is a folder (e.g. outputs/sft/final) or a built-in name. Each hand is dealt fresh by the environment
(in-distribution rule: J/Q/K = 10), prompted with the project's template, answered greedily with
`generate_batch`, and scored by the environment's verifier. "format" counts answers that are strict JSON
objects with exactly the fields cards (list), number (list) and formula (string); "cards" counts answers whose
cards are the hand's ranks; "solved" counts correct formulas at the first attempt.
"""

from __future__ import annotations

import argparse
import json
import time

from envs.general_points import rewards
from gp_hands import first_prompts  # bench/gp_hands.py, beside this script
from trainers.models import generate_batch, load_model


def strict_format(answer: str) -> bool:
    try:
        parsed = json.loads(answer)
    except (json.JSONDecodeError, RecursionError):
        return False
    return (isinstance(parsed, dict) and set(parsed) == {"cards", "number", "formula"}
            and isinstance(parsed["cards"], list) and isinstance(parsed["number"], list)
            and isinstance(parsed["formula"], str))


def score(model: str, variant: str, num: int, seed: int, color: str, batch_size: int) -> dict:
    language_only = variant == "l"
    loaded = load_model(model)
    conversations, images, infos = first_prompts(num, seed, language_only, color)
    started = time.perf_counter()
    answers = generate_batch(loaded, conversations, images, max_new_tokens=96, temperature=0, do_sample=False,
                             batch_size=batch_size)
    seconds = time.perf_counter() - started
    formatted = solved = recognized = 0
    for answer, info in zip(answers, infos):
        formatted += strict_format(answer)
        verdict = rewards.verify_answer(answer, info["Plain Cards"], info["Numbers"], 24, check_cards=True)
        recognized += verdict.recognized_cards is True
        solved += rewards.verify_answer(answer, info["Plain Cards"], info["Numbers"], 24,
                                        check_cards=not language_only).correct
    return {"model": model, "variant": variant, "hands": num, "seed": seed, "format_rate": formatted / num,
            "card_recognition_rate": recognized / num, "solved_rate": solved / num,
            "generation_seconds": round(seconds, 1), "example_answer": answers[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--variant", choices=["l", "vl"], default="l")
    parser.add_argument("--num", type=int, default=200)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--color", choices=["mixed", "black", "red"], default="mixed")
    parser.add_argument("--batch-size", type=int, default=50)
    args = parser.parse_args()
    print(json.dumps(score(args.model, args.variant, args.num, args.seed, args.color, args.batch_size), indent=2))


if __name__ == "__main__":
    main()
