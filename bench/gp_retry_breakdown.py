"""How a GP-L policy's retries fare: the verifier's verdicts at each attempt, after the verifier's messages.

    PYTHONPATH=. python bench/gp_retry_breakdown.py MODEL [--num 100] [--attempts 3] [--temperature 0.7]
                                                    [--seed 1000]

MODEL is a folder (a PPO checkpoint's `policy/`, an SFT output) or a built-in name. Each of `--num` fresh hands
(seeds `seed`, `seed + 1`, ...) is played as in training: the answer is sampled, the environment scores it, and
a failed attempt's verifier message goes back to the model, up to `--attempts` attempts. Prints, per attempt,
how many hands were still open, how many it solved, and the verdicts. A model whose later attempts solve
nothing gains nothing from the multi-turn episodes.
"""

from __future__ import annotations

import argparse
import collections
import json

import torch

from envs.conversation import EpisodeConversation
from envs.general_points.env import GeneralPointEnv
from envs.general_points.prompts import GeneralPointsPrompter
from gp_answer_breakdown import VERDICTS  # bench/gp_answer_breakdown.py, beside this script
from trainers.models import generate_batch, load_model


def retry_breakdown(model: str, num: int, attempts: int, temperature: float, seed: int) -> dict:
    torch.manual_seed(seed)
    loaded = load_model(model)
    envs = [GeneralPointEnv(language_only=True, verify_iter=attempts) for _ in range(num)]
    conversations = []
    for index, env in enumerate(envs):
        observation, info = env.reset(seed=seed + index)
        conversation = EpisodeConversation(GeneralPointsPrompter(True, 24, True))
        conversation.start(observation, info)
        conversations.append(conversation)
    open_hands, rows = list(range(num)), []
    for attempt in range(1, attempts + 1):
        messages = [conversations[i].as_messages() for i in open_hands]
        answers = generate_batch(loaded, messages, [[] for _ in messages], max_new_tokens=64,
                                 temperature=temperature, do_sample=temperature > 0, batch_size=100)
        verdicts: collections.Counter = collections.Counter()
        still_open = []
        for index, answer in zip(open_hands, answers):
            observation, reward, terminated, truncated, info = envs[index].step(answer)
            verdicts[VERDICTS.get(float(reward), "other")] += 1
            if not (terminated or truncated):
                conversations[index].record(answer, observation, info, done=False)
                still_open.append(index)
        rows.append({"attempt": attempt, "open": len(open_hands), "solved": verdicts["correct"],
                     "verdicts": dict(verdicts)})
        open_hands = still_open
    return {"model": model, "hands": num, "temperature": temperature, "seed": seed, "attempts": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--num", type=int, default=100)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(retry_breakdown(args.model, args.num, args.attempts, args.temperature, args.seed), indent=2))


if __name__ == "__main__":
    main()
