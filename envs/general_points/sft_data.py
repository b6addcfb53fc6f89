"""GeneralPoints SFT data: prompts paired with expert answers, optionally with failed attempts first.

The expert answer is the JSON the prompt asks for, with the solver's shortest solution. With `multi_turn`,
each conversation first shows one or two legal but wrong formulas, each followed by the verifier's message,
then the correct answer: the sub-optimal trajectories of the paper's ablation (C.1). `max_wrong_attempts` and
`wrong_number_share` widen them (up to `verify_iter - 1` failed attempts, some using numbers that are not the
hand's), as the built-in PPO init does so that its retries meet the verifier messages RL will show it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from envs.general_points import rewards
from envs.general_points.config import GeneralPointsConfig
from envs.general_points.env import GeneralPointEnv
from envs.general_points.prompts import build_prompt, default_template, feedback_message
from envs.general_points.solver import OPERATORS, SHAPES, exact_value, render
from envs.sft_records import SFTRecord


@dataclass
class GPDataSpec:
    num: int
    seed: int
    env: GeneralPointsConfig
    multi_turn: bool = False
    template: str | None = None
    max_wrong_attempts: int = 2
    wrong_number_share: float = 0.0
    """Share of the failed attempts whose formula uses a number that is not the hand's."""


def expert_answer(plain_cards: list[str], numbers: list[int], formula: str, target: int) -> str:
    return json.dumps({"cards": plain_cards, "number": numbers, "formula": f"{formula}={target}"})


def wrong_formula(numbers: list[int], target: int, rng: np.random.Generator) -> str:
    """A legal formula over exactly these numbers whose value is not the target."""
    while True:
        ordering = [numbers[i] for i in rng.permutation(4)]
        ops = [OPERATORS[i] for i in rng.integers(0, 4, size=3)]
        node = SHAPES[int(rng.integers(0, len(SHAPES)))](*ordering, *ops)
        value = exact_value(node)
        if value is not None and value != target:
            return render(node)


def wrong_number_formula(numbers: list[int], target: int, rng: np.random.Generator) -> str:
    """A formula in which one of the hand's numbers is replaced by another (the verifier's wrong-numbers case)."""
    while True:
        changed = list(numbers)
        position = int(rng.integers(0, 4))
        changed[position] = int(rng.integers(1, 11))
        if sorted(changed) == sorted(numbers):
            continue
        ordering = [changed[i] for i in rng.permutation(4)]
        ops = [OPERATORS[i] for i in rng.integers(0, 4, size=3)]
        node = SHAPES[int(rng.integers(0, len(SHAPES)))](*ordering, *ops)
        if exact_value(node) is not None:
            return render(node)


def generate_records(
    spec: GPDataSpec, image_dir: Path | None, on_record: Callable[[], None] = lambda: None
) -> list["SFTRecord"]:
    """`spec.num` conversations; GP-VL images are saved as PNG under `image_dir` (named by record id)."""
    config = spec.env
    env = GeneralPointEnv(**asdict(config))
    template = spec.template or default_template(config.language_only)
    rng = np.random.default_rng(spec.seed + 1)
    records: list[SFTRecord] = []
    observation, info = env.reset(seed=spec.seed)
    for index in range(spec.num):
        if index:
            observation, info = env.reset()
        record_id = f"gp_{index:06d}"
        prompt = build_prompt(template, info, config.treat_face_cards_as_10, config.target_points)
        image = None
        if not config.language_only:
            assert image_dir is not None
            image_dir.mkdir(parents=True, exist_ok=True)
            Image.fromarray(observation).save(image_dir / f"{record_id}.png", optimize=False)
            image = f"{image_dir.name}/{record_id}.png"
        record = SFTRecord(record_id, image=image).add("user", prompt)
        plain, numbers = info["Plain Cards"], info["Numbers"]
        if spec.multi_turn:
            most = min(spec.max_wrong_attempts, config.verify_iter - 1)
            for _ in range(int(rng.integers(1, most + 1)) if most > 0 else 0):
                wrong = (wrong_number_formula if spec.wrong_number_share and rng.random() < spec.wrong_number_share
                         else wrong_formula)
                attempt = expert_answer(plain, numbers, wrong(numbers, config.target_points, rng), config.target_points)
                verdict = rewards.verify_answer(attempt, plain, numbers, config.target_points, check_cards=False)
                record.add("assistant", attempt).add("user", feedback_message(verdict.message))
        record.add("assistant", expert_answer(plain, numbers, info["Solution"][0], config.target_points))
        records.append(record)
        on_record()
    return records
