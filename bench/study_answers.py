"""What a GP study's checkpoints answer: per checkpoint and split, how often the first answer copies the hand
right, how it values J/Q/K, and how often it solves the hand. Reads the evaluations' `steps.jsonl`.

    python bench/study_answers.py runs/study [--checkpoints init,sft-300,rl-40] [--splits id,rule-ood]

Prints one tab-separated row per checkpoint and split, summed over the study's seeds. It tells apart the two
ways a rule-OOD answer fails: misreading the hand, or valuing face cards by the training rule.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

FACE_VALUES = {"J": 11, "Q": 12, "K": 13}
MAX_LINE = 1 << 20
HAND = re.compile(r"Cards: \[([^\]]{0,200})\]")


def first_answers(steps: Path):
    """(hand, parsed answer or None, correct) for each episode's first attempt."""
    with steps.open(encoding="utf-8") as handle:
        for line in handle:
            if len(line) > MAX_LINE:
                continue
            record = json.loads(line)
            if record.get("type") != "step" or record.get("attempt") != 0:
                continue
            found = HAND.search(record["prompt"]["messages"][0]["content"])
            hand = [card.strip(" '\"") for card in found.group(1).split(",")] if found else []
            try:
                answer = json.loads(record.get("output") or "")
            except json.JSONDecodeError:
                answer = None
            yield hand, answer if isinstance(answer, dict) else None, bool(record.get("correct"))


def audit(study: Path, checkpoint: str, split: str) -> Counter:
    counts: Counter = Counter()
    for steps in sorted(study.glob(f"seed-*/evals/{checkpoint}/{split}/steps.jsonl")):
        for hand, answer, correct in first_answers(steps):
            counts["answers"] += 1
            counts["solved"] += correct
            if answer is None:
                counts["not JSON"] += 1
                continue
            cards, numbers = answer.get("cards"), answer.get("number")
            counts["hand copied"] += isinstance(cards, list) and sorted(map(str, cards)) == sorted(hand)
            if isinstance(cards, list) and isinstance(numbers, list) and len(cards) == len(numbers):
                for card, number in zip(map(str, cards), numbers):
                    if card in FACE_VALUES:
                        counts["face cards"] += 1
                        counts["face as 10"] += number == 10
                        counts["face as 11-13"] += number == FACE_VALUES[card]
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("--checkpoints", default="init,sft-300,rl-40")
    parser.add_argument("--splits", default="id,rule-ood")
    args = parser.parse_args()
    columns = ["answers", "solved", "hand copied", "face cards", "face as 10", "face as 11-13", "not JSON"]
    print("\t".join(["checkpoint", "split", *columns]))
    for split in args.splits.split(","):
        for checkpoint in args.checkpoints.split(","):
            counts = audit(args.study, checkpoint, split)
            print("\t".join([checkpoint, split, *(str(counts[c]) for c in columns)]))


if __name__ == "__main__":
    main()
