"""The text the built-in tokenizer is trained on: the tasks' prompts, answers and verifier messages.

The corpus is deterministic (fixed seeds, no clock), so the tokenizer built from it is the same on every
machine. It covers GP-L and GP-VL prompts under both face-card rules, expert answers, wrong attempts with the
verifier's messages, and V-IRL style navigation prompts and answers in both action spaces. Text outside this
corpus still encodes (the tokenizer falls back to bytes); it just takes more tokens.
"""

from __future__ import annotations

import random
from typing import Iterator

from envs.general_points import rewards
from envs.general_points.env import GeneralPointEnv
from envs.general_points.prompts import GP_L_TEMPLATE, GP_VL_TEMPLATE, build_prompt, feedback_message
from envs.general_points.sft_data import expert_answer

_ABSOLUTE = ["north", "northeast", "east", "southeast", "south", "southwest", "west", "northwest"]
_RELATIVE = ["left", "right", "slightly left", "slightly right"]
_LANDMARKS = ["Starbucks", "Hotel 32One", "Korean War Memorial", "Apple Union Square", "Bank of America",
              "Chase Bank", "McDonald's", "Central Park", "Whole Foods Market", "CVS Pharmacy", "Subway"]
_SIDES = ["left", "right", "left front", "right front", "left behind", "right behind"]


def general_points_texts(hands_per_setting: int = 300, seed: int = 0) -> Iterator[str]:
    """GP prompts (text and vision templates, both rules), expert answers, wrong answers and feedback."""
    rng = random.Random(seed)
    for face_as_10, ood in ((True, False), (False, True)):
        env = GeneralPointEnv(language_only=True, treat_face_cards_as_10=face_as_10, ood=ood)
        _, info = env.reset(seed=seed)
        for index in range(hands_per_setting):
            if index:
                _, info = env.reset()
            for template in (GP_L_TEMPLATE, GP_VL_TEMPLATE):
                yield build_prompt(template, info, face_as_10, 24)
            plain, numbers = info["Plain Cards"], info["Numbers"]
            answer = expert_answer(plain, numbers, info["Solution"][0], 24)
            yield answer
            shuffled = numbers[:]
            rng.shuffle(shuffled)
            wrong = expert_answer(plain, numbers, "+".join(map(str, shuffled)), 24)
            for check_cards in (False, True):
                cards = plain if rng.random() < 0.5 else [rng.choice("A23456789JQK") for _ in plain]
                attempt = wrong if check_cards is False else expert_answer(cards, numbers, "+".join(map(str, shuffled)), 24)
                verdict = rewards.verify_answer(attempt, plain, numbers, 24, check_cards=check_cards)
                yield attempt
                yield feedback_message(verdict.message)


def _virl_instruction(rng: random.Random, steps: int) -> list[str]:
    sentences = []
    for k in range(steps):
        turn = f"turn {rng.choice(_RELATIVE)} to face {rng.choice(_ABSOLUTE)}."
        sentences.append(("First, " + turn) if k == 0 else turn[0].upper() + turn[1:])
        where = f"{rng.choice(_LANDMARKS)} is on your {rng.choice(_SIDES)}"
        if k == steps - 1:
            sentences.append(f"Move forward until you reach destination where The destination {where}.")
        else:
            sentences.append(f"Move forward until you reach next intersection where {where}.")
    return [f"{i}. {s}" for i, s in enumerate(sentences, 1)]


def virl_texts(routes: int = 200, seed: int = 0) -> Iterator[str]:
    """V-IRL style prompts (instruction, action space, observation/action history) and answers."""
    rng = random.Random(seed)
    for _ in range(routes):
        relative = rng.random() < 0.5
        choices = _RELATIVE if relative else _ABSOLUTE
        instruction = "\n".join(_virl_instruction(rng, rng.randint(1, 4)))
        history = []
        for i in range(1, rng.randint(2, 6)):
            obs = rng.choice(["No landmarks nearby; ", f"{rng.choice(_LANDMARKS)} is on your {rng.choice(_SIDES)}; "
                              "You observe an intersection", "You observe an image of 4 views; "])
            history.append(f"O_{i}: {obs}\nA_{i}: {rng.choice(['forward()', f'turn_direction({rng.choice(choices)})'])}")
        action = rng.choice(["forward()", "stop()", f"turn_direction({rng.choice(choices)})"])
        yield (
            "[Task Description]\nYou are an expert in navigation. You will receive a sequence of instructions to follow "
            "while observing your surrounding street views.\n[Instruction]\n" + instruction + "\n[Action space]\n"
            '"forward()": indicates moving forward one step\n"turn_direction(x)": indicates adjust the ego agent '
            f"direction towards x direction. x could be any following {choices}\n"
            '"stop()": indicates the navigation is finished.\n[Observations and actions sequence]\n'
            + "\n".join(history) + "\n[Output]\n"
        )
        yield (f'"current observation": "{rng.choice(_LANDMARKS)} is on your {rng.choice(_SIDES)}",\n'
               f'"current instruction": "{rng.choice(instruction.splitlines())[3:]}",\n"action": "{action}",')
        yield f"You failed this trial because you make incorrect action. Please avoid this action and try again in the same format:"


def task_corpus() -> list[str]:
    return list(general_points_texts()) + list(virl_texts())
