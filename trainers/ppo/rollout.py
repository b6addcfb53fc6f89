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
state, so a checkpoint between updates resumes exactly.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from envs.conversation import EpisodeConversation
from envs.registry import make_adapter, make_env, make_prompter
from trainers.ppo.action_logprob import answer_token_weights
from trainers.ppo.conversation_cache import ConversationCache
from trainers.ppo.sampling import EncodedPrompt, ScoredAnswers, encode_prompt, sample_answers
from trainers.ppo.storage import RolloutStorage
from trainers.ppo.success_estimate import StepsByDepth
from trainers.ppo.value_head import PolicyWithValue, Transition


@dataclass
class RolloutStats:
    env_steps: int = 0
    episodes: int = 0
    successes: int = 0
    episode_rewards: list[float] = field(default_factory=list)
    recognitions: list[bool] = field(default_factory=list)
    first_attempts: int = 0
    first_attempt_hits: int = 0
    steps_by_depth: StepsByDepth = field(default_factory=StepsByDepth)
    prompt_tokens: int = 0
    generated_tokens: int = 0
    bootstrap_tokens: int = 0
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        rewards = np.asarray(self.episode_rewards, dtype=np.float64)
        return {
            "episodes": self.episodes,
            "success_rate": self.successes / self.episodes if self.episodes else None,
            "success_rate_estimate": self.steps_by_depth.success_rate(),
            "episode_reward_mean": float(rewards.mean()) if rewards.size else None,
            "episode_reward_std": float(rewards.std()) if rewards.size else None,
            "recognition_accuracy": float(np.mean(self.recognitions)) if self.recognitions else None,
            "first_attempt_accuracy": self.first_attempt_hits / self.first_attempts if self.first_attempts else None,
        }


@dataclass
class RolloutSettings:
    temperature: float
    top_p: float
    max_new_tokens: int
    thought_prob_coef: float
    action_fields: Sequence[str]
    enable_verification: bool = True
    generation_batch_size: int | None = None
    forward_batch_size: int = 8
    scoring: str = "generation"
    """Where the buffer's log-probs and values come from: "generation" (the sampling pass itself) or
    "forward" (a second batched forward over prompt + answer, as the published trainer does)."""
    prefix_cache: bool = True
    """Continue each round's generation from the previous round's KV cache where the conversation goes on."""


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

    # -- seed stream (saved in checkpoints) ----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        in_flight = (self.envs, self.conversations, self.returns, self.depths)
        episodes = pickle.dumps(in_flight) if self.started else None
        return {"seed_stream": self.seed_stream.bit_generator.state, "episodes": episodes}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.seed_stream.bit_generator.state = state["seed_stream"]
        if state.get("episodes") is not None:
            envs, self.conversations, self.returns, *depths = pickle.loads(state["episodes"])
            # Checkpoints from before success_rate_estimate kept no depths: a GP episode's depth is its
            # answers so far.
            self.depths = depths[0] if depths else [sum(turn.role == "assistant" for turn in c.turns)
                                                    for c in self.conversations]
            if len(envs) != len(self.envs):
                raise ValueError(f"the checkpoint has {len(envs)} environments per rank, this run {len(self.envs)}")
            self.envs = envs
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

    @torch.no_grad()
    def evaluate(self, policy: PolicyWithValue, transitions: list[Transition], temperature: float, pad_id: int,
                 batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probs and values of transitions, `batch_size` samples per forward."""
        log_probs, values = [], []
        for start in range(0, len(transitions), batch_size):
            lp, v = policy(transitions[start:start + batch_size], temperature, pad_id)
            log_probs.append(lp.float().cpu())
            values.append(v.float().cpu())
        return torch.cat(log_probs), torch.cat(values)

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
            return (transitions, *self.evaluate(policy, transitions, settings.temperature,
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
            bootstrap = [Transition(p.ids, [], [], p.extra_inputs) for p in prompts]
            return self.evaluate(policy, bootstrap, settings.temperature, loaded.pad_token_id,
                                 settings.forward_batch_size)[1]
        # The prefill of a one-token greedy call (continuing the conversations' cache) gives the hidden states.
        scored = sample_answers(loaded, policy.backbone, prompts, temperature=settings.temperature, top_p=1.0,
                                max_new_tokens=1, do_sample=False, batch_size=settings.generation_batch_size,
                                score=True, conversation_cache=self._conversation_cache)
        with torch.no_grad():
            return policy.values_from_hidden(scored.prompt_hidden).cpu()

    def collect(self, loaded, policy: PolicyWithValue, storage: RolloutStorage, settings: RolloutSettings,
                progress=None) -> tuple[RolloutStats, torch.Tensor]:
        """Fill `storage` with the next rounds of the episodes; returns the statistics and the bootstrap
        values (E,) of the states after the last round."""
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
            prompts = self._prompts(loaded)
            transitions, log_probs, values = self._sample(loaded, policy, prompts, settings)
            answers = [t.answer_ids for t in transitions]
            rewards, dones, truncs = [], [], []
            for index, (env, answer) in enumerate(zip(self.envs, answers)):
                text = decode(answer)
                first_attempt = not any(turn.role == "assistant" for turn in self.conversations[index].turns)
                observation, reward, terminated, truncated, info = env.step(text)
                if "Recognized Cards" in info:
                    stats.recognitions.append(bool(info["Recognized Cards"]))
                if not (terminated or truncated) and not self.adapter.needs_model(info):
                    # All attempts are used: the closing step ignores its answer, so it is no decision of
                    # the policy; its penalty is credited to this (last) attempt instead.
                    observation, closing_reward, terminated, truncated, info = env.step("")
                    reward = float(reward) + float(closing_reward)
                done = bool(terminated or truncated)
                self.returns[index] += float(reward)
                if first_attempt:
                    # Unbiased by the update's window, unlike episode success: every first attempt is a fresh
                    # decision point, whereas the episodes that end inside a window favour short ones.
                    stats.first_attempts += 1
                    stats.first_attempt_hits += float(reward) > 0
                rewards.append(float(reward))
                dones.append(done)
                truncs.append(bool(truncated and not terminated))
                succeeded = done and self.adapter.episode_success(terminated, truncated, info)
                stats.steps_by_depth.record(self.depths[index], done, succeeded)
                self.depths[index] += 1
                if done:
                    stats.episodes += 1
                    stats.successes += succeeded
                    stats.episode_rewards.append(self.returns[index])
                    self._reset(index)
                else:
                    self.conversations[index].record(text, observation, info, done=False)
                stats.prompt_tokens += len(transitions[index].prompt_ids)
                stats.generated_tokens += len(answer)
            storage.add_round(transitions, log_probs, values, rewards, dones, truncs)
            stats.env_steps += len(self.envs)
            if progress is not None:
                progress(stats)
        # Bootstrap values of the states after the last round (ignored where the last step ended an episode).
        prompts = self._prompts(loaded)
        self.last_bootstrap = [Transition(p.ids, [], [], p.extra_inputs) for p in prompts]
        stats.bootstrap_tokens = sum(len(p.ids) for p in prompts)
        next_values = self._bootstrap_values(loaded, policy, prompts, settings)
        self._conversation_cache = None
        policy.train(was_training)
        stats.seconds = time.perf_counter() - started
        return stats, next_values


def _decoder(loaded):
    """Answer token ids -> the text the environment reads (special tokens dropped)."""
    return lambda ids: loaded.tokenizer.decode(ids, skip_special_tokens=True)
