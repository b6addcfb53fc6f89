"""Rollouts: `num_envs` environments side by side, one batched model call per round, multi-turn episodes.

Every round, each environment's conversation (prompt, earlier answers, verifier messages; the paper's
sequential revision through `envs.conversation.EpisodeConversation`) is encoded with the model's chat
template, all answers are sampled in one left-padded batch, log-probs and values are computed in one more
batched forward, and every environment steps on its answer. A finished episode restarts from the next seed of
this worker's seed stream (one stream per rank, so ranks never share episodes).

Episodes run on across updates, as in the published trainer: an episode still running after the last round
is bootstrapped from the critic's value of its next prompt, and continues in the next update. (Restarting
episodes at every update would bias the logged success rate: within a fixed round budget, only short, i.e.
successful, episodes could finish.) The environments and conversations in flight are part of the worker's
state, as plain data (`episode_state`), so a checkpoint between updates resumes exactly.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch

from envs.conversation import EpisodeConversation
from envs.registry import make_adapter, make_env, make_prompter
from trainers.ppo.action_logprob import answer_token_weights
from trainers.ppo.conversation_cache import ConversationCache
from trainers.ppo.episode_state import episodes_from_plain, episodes_to_plain
from trainers.ppo.rollout_stats import RolloutStats
from trainers.ppo.sampling import EncodedPrompt, ScoredAnswers, encode_prompt, sample_answers
from trainers.ppo.settings import RolloutSettings
from trainers.ppo.storage import RolloutStorage
from trainers.ppo.transition import Transition
from trainers.ppo.value_head import PolicyWithValue

__all__ = ["RolloutSettings", "RolloutStats", "RolloutWorker", "score"]


@torch.no_grad()
def score(policy: PolicyWithValue, transitions: list[Transition], temperature: float, pad_id: int,
          batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Action log-probs and critic values (N,) of N transitions, `batch_size` per forward."""
    log_probs, values = [], []
    for start in range(0, len(transitions), batch_size):
        lp, v = policy(transitions[start:start + batch_size], temperature, pad_id)
        log_probs.append(lp.float().cpu())
        values.append(v.float().cpu())
    return torch.cat(log_probs), torch.cat(values)


class RolloutWorker:
    """The environments of one rank and the state of their episodes."""

    def __init__(self, env_config: dict[str, Any], num_envs: int, seed: int, rank: int = 0,
                 template: str | None = None, enable_verification: bool = True):
        self.envs = [make_env(env_config) for _ in range(num_envs)]
        self.prompter = make_prompter(env_config, template)
        self.adapter = make_adapter(env_config)
        self.enable_verification = enable_verification
        self.seed_stream = np.random.default_rng([seed, rank])
        self.conversations = [EpisodeConversation(self.prompter, enable_verification) for _ in self.envs]
        self.returns = [0.0] * num_envs
        self.depths = [0] * num_envs
        """Steps each episode in flight has taken (see success_estimate)."""
        self.started = False
        self._conversation_cache: ConversationCache | None = None

    # -- checkpoint state: plain, JSON-able data -----------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        episodes = (episodes_to_plain(self.envs, self.conversations, self.returns, self.depths)
                    if self.started else None)
        return {"seed_stream": self.seed_stream.bit_generator.state, "episodes": episodes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore `state_dict()`; raises CheckpointError/KeyError/TypeError on malformed data."""
        self.seed_stream.bit_generator.state = state["seed_stream"]
        if state["episodes"] is not None:
            self.conversations, self.returns, self.depths = episodes_from_plain(
                state["episodes"], self.envs, self.prompter, self.enable_verification)
            self.started = True

    def _reset(self, index: int) -> None:
        episode_seed = int(self.seed_stream.integers(0, 2**31 - 1))
        observation, info = self.envs[index].reset(seed=episode_seed)
        self.conversations[index].start(observation, info)
        self.returns[index] = 0.0
        self.depths[index] = 0

    def reset_all(self) -> None:
        for index in range(len(self.envs)):
            self._reset(index)
        self.started = True

    # -- rollout ---------------------------------------------------------------------------------------
    def _prompts(self, loaded) -> list[EncodedPrompt]:
        return [encode_prompt(loaded, c.as_messages(), c.images if loaded.is_vision else []) for c in self.conversations]

    def _sample(self, loaded, policy: PolicyWithValue, prompts: list[EncodedPrompt], settings: RolloutSettings):
        """One answer per prompt, as transitions, with their action log-probs (B,) and values (B,)."""
        decode = _decoder(loaded)
        scored = sample_answers(loaded, policy.backbone, prompts, temperature=settings.temperature,
                                top_p=settings.top_p, max_new_tokens=settings.max_new_tokens,
                                batch_size=settings.generation_batch_size, score=settings.scoring == "generation",
                                conversation_cache=self._conversation_cache)
        answers = scored.answers if isinstance(scored, ScoredAnswers) else scored
        transitions = [
            Transition(p.ids, a, answer_token_weights(a, decode, settings.action_fields, settings.thought_prob_coef),
                       p.extra_inputs)
            for p, a in zip(prompts, answers)
        ]
        if not isinstance(scored, ScoredAnswers):
            return (transitions, *score(policy, transitions, settings.temperature,
                                                loaded.pad_token_id, settings.forward_batch_size))
        log_probs = torch.stack([(lp * torch.tensor(t.answer_weights, dtype=lp.dtype)).sum()
                                 for lp, t in zip(scored.token_log_probs, transitions)])
        with torch.no_grad():
            values = policy.values_from_hidden(scored.prompt_hidden).cpu()
        return transitions, log_probs.float(), values

    def _bootstrap_values(self, loaded, policy: PolicyWithValue, prompts: list[EncodedPrompt],
                          settings: RolloutSettings) -> torch.Tensor:
        """Critic values (E,) of the states after the last round."""
        if settings.scoring != "generation":
            bootstrap = [Transition.prompt_only(p.ids, p.extra_inputs) for p in prompts]
            return score(policy, bootstrap, settings.temperature, loaded.pad_token_id, settings.forward_batch_size)[1]
        # The prefill of a one-token greedy call (continuing the conversations' cache) gives the hidden states.
        scored = sample_answers(loaded, policy.backbone, prompts, temperature=settings.temperature, top_p=1.0,
                                max_new_tokens=1, do_sample=False, batch_size=settings.generation_batch_size,
                                score=True, conversation_cache=self._conversation_cache)
        with torch.no_grad():
            return policy.values_from_hidden(scored.prompt_hidden).cpu()

    def collect(self, loaded, policy: PolicyWithValue, storage: RolloutStorage, settings: RolloutSettings,
                progress: Callable[[RolloutStats], None] | None = None) -> RolloutStats:
        """Fill `storage` with the next rounds of the episodes and the bootstrap values of the states after the
        last round; returns the statistics."""
        started = time.perf_counter()
        stats = RolloutStats()
        decode = _decoder(loaded)
        was_training = policy.training
        policy.eval()
        if not self.started:
            self.reset_all()
        # Valid for this policy version only: a new cache every update.
        self._conversation_cache = ConversationCache() if settings.prefix_cache else None
        for _ in range(storage.rounds):
            transitions, log_probs, values = self._sample(loaded, policy, self._prompts(loaded), settings)
            steps = [self._step(index, decode(t.answer_ids), stats) for index, t in enumerate(transitions)]
            rewards, dones, truncs = (list(column) for column in zip(*steps))
            stats.prompt_tokens += sum(len(t.prompt_ids) for t in transitions)
            stats.generated_tokens += sum(len(t.answer_ids) for t in transitions)
            storage.add_round(transitions, log_probs, values, rewards, dones, truncs)
            stats.env_steps += len(self.envs)
            if progress is not None:
                progress(stats)
        prompts = self._prompts(loaded)
        stats.bootstrap_tokens = sum(len(p.ids) for p in prompts)
        storage.bootstrap([Transition.prompt_only(p.ids, p.extra_inputs) for p in prompts],
                          self._bootstrap_values(loaded, policy, prompts, settings))
        self._conversation_cache = None
        policy.train(was_training)
        stats.seconds = time.perf_counter() - started
        return stats

    def _step(self, index: int, text: str, stats: RolloutStats) -> tuple[float, bool, bool]:
        """Environment `index` acts on `text`: (reward, done, truncated); a finished episode restarts."""
        env, conversation = self.envs[index], self.conversations[index]
        first_attempt = not any(turn.role == "assistant" for turn in conversation.turns)
        observation, reward, terminated, truncated, info = env.step(text)
        if "Recognized Cards" in info:
            stats.recognitions.append(bool(info["Recognized Cards"]))
        if not (terminated or truncated) and not self.adapter.needs_model(info):
            # All attempts are used: the closing step ignores its answer, so it is no decision of the policy;
            # its penalty is credited to this (last) attempt instead.
            observation, closing_reward, terminated, truncated, info = env.step("")
            reward = float(reward) + float(closing_reward)
        done = bool(terminated or truncated)
        self.returns[index] += float(reward)
        if first_attempt:
            # Unbiased by the update's window, unlike episode success: every first attempt is a fresh decision
            # point, whereas the episodes that end inside a window favour short ones.
            stats.first_attempts += 1
            stats.first_attempt_hits += float(reward) > 0
        succeeded = done and self.adapter.episode_success(terminated, truncated, info)
        stats.steps_by_depth.record(self.depths[index], done, succeeded)
        self.depths[index] += 1
        if done:
            stats.episodes += 1
            stats.successes += succeeded
            stats.episode_rewards.append(self.returns[index])
            self._reset(index)
        else:
            conversation.record(text, observation, info, done=False)
        return float(reward), done, bool(truncated and not terminated)


def _decoder(loaded):
    """Answer token ids -> the text the environment reads (special tokens dropped)."""
    return lambda ids: loaded.tokenizer.decode(ids, skip_special_tokens=True)
