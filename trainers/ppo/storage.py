"""The rollout buffer of one PPO update: T rounds x E environments of transitions and their statistics.

Each round every environment contributes one transition (one model call: conversation so far -> answer ->
reward). The rollout also leaves the states after its last round and their values (`bootstrap`), from which
`finish` computes GAE advantages and returns; `rescore_values` replaces every value with a new critic's (after
the critic warm-up). `minibatches` yields index batches for the PPO epochs, episodes in shuffled order.
"""

from __future__ import annotations

from typing import Callable, Iterator

import torch

from trainers.ppo.ppo_math import compute_gae, normalize_advantages
from trainers.ppo.settings import ReturnSettings
from trainers.ppo.transition import Transition

ValueScorer = Callable[[list[Transition]], torch.Tensor]
"""Critic values (N,) of N transitions."""


class RolloutStorage:
    def __init__(self, rounds: int, num_envs: int):
        self.rounds, self.num_envs = rounds, num_envs
        self.transitions: list[list[Transition | None]] = [[None] * num_envs for _ in range(rounds)]
        self.log_probs = torch.zeros(rounds, num_envs)
        self.values = torch.zeros(rounds, num_envs)
        self.rewards = torch.zeros(rounds, num_envs)
        self.dones = torch.zeros(rounds, num_envs)
        self.truncated = torch.zeros(rounds, num_envs)
        self.advantages = torch.zeros(rounds, num_envs)
        self.returns = torch.zeros(rounds, num_envs)
        self.bootstrap_states: list[Transition] = []
        self.bootstrap_values = torch.zeros(num_envs)
        """The states after the last round and their values (ignored where the last step ended an episode)."""
        self.filled = 0

    def add_round(self, transitions: list[Transition], log_probs: torch.Tensor, values: torch.Tensor,
                  rewards: list[float], dones: list[bool], truncated: list[bool]) -> None:
        t = self.filled
        if t >= self.rounds:
            raise IndexError(f"rollout storage is full ({self.rounds} rounds)")
        self.transitions[t] = list(transitions)
        self.log_probs[t] = log_probs.detach().float().cpu()
        self.values[t] = values.detach().float().cpu()
        self.rewards[t] = torch.tensor(rewards, dtype=torch.float32)
        self.dones[t] = torch.tensor(dones, dtype=torch.float32)
        self.truncated[t] = torch.tensor(truncated, dtype=torch.float32)
        self.filled += 1

    def bootstrap(self, states: list[Transition], values: torch.Tensor) -> None:
        """Record the states after the last round and their critic values (E,)."""
        self.bootstrap_states = list(states)
        self.bootstrap_values = values.detach().float().cpu()

    def rescore_values(self, score: ValueScorer) -> None:
        """Replace the buffer's and the bootstrap's values with `score`'s (log-probs unchanged)."""
        flat = [tr for row in self.transitions for tr in row]
        self.values = score(flat).view(self.rounds, self.num_envs)
        self.bootstrap_values = score(self.bootstrap_states)

    def finish(self, settings: ReturnSettings) -> None:
        """Advantages (normalised) and returns from the rewards, values and bootstrap values."""
        if self.filled != self.rounds:
            raise RuntimeError(f"rollout incomplete: {self.filled} of {self.rounds} rounds")
        advantages, returns = compute_gae(
            self.rewards, self.values, self.dones, self.bootstrap_values, settings.gamma,
            settings.gae_lambda if settings.use_gae else 1.0,
            self.truncated if settings.use_proper_time_limits else None,
        )
        self.returns = returns
        self.advantages = normalize_advantages(advantages)

    def flat(self, index: int) -> tuple[int, int]:
        return divmod(index, self.num_envs)

    def episode_chains(self) -> list[list[int]]:
        """Flat indices grouped by episode: each environment's consecutive rounds until its episode ends."""
        chains = []
        for env in range(self.num_envs):
            chain: list[int] = []
            for t in range(self.rounds):
                chain.append(t * self.num_envs + env)
                if self.dones[t, env]:
                    chains.append(chain)
                    chain = []
            if chain:
                chains.append(chain)
        return chains

    def minibatches(self, mini_batch_size: int, generator: torch.Generator) -> Iterator[list[int]]:
        """Flat indices (round * E + env), `mini_batch_size` at a time (the last may be shorter): the episodes
        in shuffled order, each episode's turns kept together, so that a turn whose conversation continues in
        a later turn of the same mini-batch is scored inside that turn's forward (PolicyWithValue)."""
        chains = self.episode_chains()
        order = [index for c in torch.randperm(len(chains), generator=generator).tolist() for index in chains[c]]
        for start in range(0, len(order), mini_batch_size):
            yield order[start : start + mini_batch_size]

    def gather(self, indices: list[int]) -> dict:
        rows, cols = zip(*(self.flat(i) for i in indices))
        r, c = torch.tensor(rows), torch.tensor(cols)
        return {
            "transitions": [self.transitions[i][j] for i, j in zip(rows, cols)],
            "old_log_probs": self.log_probs[r, c],
            "old_values": self.values[r, c],
            "advantages": self.advantages[r, c],
            "returns": self.returns[r, c],
        }

    def token_counts(self) -> tuple[int, int]:
        """(prompt tokens, answer tokens) summed over the buffer."""
        prompt = answer = 0
        for row in self.transitions:
            for tr in row:
                if tr is not None:
                    prompt += len(tr.prompt_ids)
                    answer += len(tr.answer_ids)
        return prompt, answer
