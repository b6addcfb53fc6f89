"""Play a split's episodes with a policy, batched across episodes, logging every step as it happens.

Up to `batch_size` episodes are active at once. Each round asks the policy for one answer per active episode
(one batched generation, or that many concurrent API requests), steps each environment, records the answer
in the episode's conversation (sequential revision, `envs.conversation`) and appends the round's records to
the log. A finished episode's slot is refilled with the next one.

Resumption: episodes with a closing record in the log are skipped; an unfinished one is replayed from its
logged answers (the environment is deterministic given its seed and the answers), so no model call is
repeated and no sample is lost or duplicated, and it continues from where it stopped.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from envs.answer_parsing import MAX_ANSWER_CHARS
from envs.conversation import EpisodeConversation
from envs.errors import InputError
from envs.spec import TaskAdapter
from envs.registry import make_env, make_prompter
from evaluators.policies import Policy, PolicyFailure, PolicyRequest
from envs.spec import Split
from evaluators.splits import episode_reset_kwargs, episode_seed
from evaluators.step_log import StepLog


class ReplayMismatch(InputError):
    """The log does not replay under these settings: it was written by a different environment or code."""


@dataclass
class EpisodeSpec:
    split: Split | None
    split_key: str
    env_config: Mapping[str, Any]
    seed: int
    enable_verification: bool = True
    template: str | None = None


@dataclass
class _Active:
    index: int
    env: Any
    conversation: EpisodeConversation
    observation: Any
    info: dict[str, Any]
    replay: list[dict[str, Any]]
    step: int = 0
    decision: int = 0
    attempt: int = 0
    total_reward: float = 0.0
    scored_steps: int = 0
    start_fields: dict[str, Any] = field(default_factory=dict)


def sample_id(split_key: str, index: int) -> str:
    return f"{split_key}/{index:05d}"


def prompt_record(request: PolicyRequest) -> dict[str, Any]:
    """The exact prompt a policy was given: the chat messages (image blocks in place) and each image by the
    sha256 of its pixels (uint8, row-major) with its shape."""
    images = []
    for image in request.images or ():
        pixels = np.ascontiguousarray(np.asarray(image))
        images.append({"sha256": hashlib.sha256(pixels.tobytes()).hexdigest(), "shape": list(pixels.shape),
                       "dtype": str(pixels.dtype)})
    return {"messages": request.messages, "images": images}


def run_episodes(
    policy: Policy,
    adapter: TaskAdapter,
    spec: EpisodeSpec,
    num_traj: int,
    log: StepLog,
    batch_size: int = 8,
    on_episode: Callable[[dict[str, Any]], None] = lambda record: None,
) -> None:
    """Play episodes 0..num_traj-1 that the log does not close yet, appending their records to `log`."""
    if batch_size < 1:
        raise InputError("batch_size must be at least 1")
    existing = log.load()
    closed = {int(r["episode"]) for r in existing if r.get("type") == "episode"}
    partial: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in existing:
        if record.get("type") == "step" and int(record["episode"]) not in closed:
            partial[int(record["episode"])].append(record)
    pending = [i for i in range(num_traj) if i not in closed]
    pending.reverse()  # pop() from the end gives ascending order
    free_envs: list[Any] = []
    active: list[_Active] = []
    prompter = make_prompter(dict(spec.env_config), spec.template)
    try:
        while pending or active:
            while pending and len(active) < batch_size:
                index = pending.pop()
                env = free_envs.pop() if free_envs else make_env(dict(spec.env_config), disable_env_checker=True)
                observation, info = env.reset(**episode_reset_kwargs(spec.split, spec.seed, index))
                conversation = EpisodeConversation(prompter, enable_verification=spec.enable_verification)
                conversation.start(observation, info)
                replay = sorted(partial.get(index, []), key=lambda r: int(r["step"]))
                active.append(_Active(index, env, conversation, observation, info, replay,
                                      start_fields=adapter.episode_fields(info)))
            try:
                records, finished = _play_round(policy, adapter, spec, active)
            except RoundFailed as error:
                log.append(error.records)  # keep the answers that did arrive
                raise error.failure from None
            log.append(records)
            for state in finished:
                active.remove(state)
                free_envs.append(state.env)
            for record in records:
                if record["type"] == "episode":
                    on_episode(record)
    finally:
        for env in free_envs + [state.env for state in active]:
            env.close()


def _play_round(policy: Policy, adapter: TaskAdapter, spec: EpisodeSpec, active: Sequence[_Active]):
    answers: dict[int, str] = {}
    scored: dict[int, bool] = {}
    requests: list[tuple[_Active, PolicyRequest]] = []
    for state in active:
        scored[state.index] = adapter.needs_model(state.info)
        if state.step < len(state.replay):
            answers[state.index] = str(state.replay[state.step]["output"])
        elif not scored[state.index]:
            answers[state.index] = ""
        else:
            request = PolicyRequest(state.index, state.step, state.conversation.as_messages(),
                                    state.conversation.images, state.info,
                                    episode_seed(spec.seed, state.index * 4096 + state.step))
            requests.append((state, request))
    prompts = {state.index: prompt_record(request) for state, request in requests}
    failure: PolicyFailure | None = None
    if requests:
        try:
            outputs: Sequence[str | None] = policy.answer([request for _, request in requests])
        except PolicyFailure as error:
            failure, outputs = error, error.answers
        if len(outputs) != len(requests):
            raise RuntimeError(f"policy {policy.name} returned {len(outputs)} answers for {len(requests)} requests")
        for (state, _), output in zip(requests, outputs):
            if output is None and failure is not None:
                continue
            if not isinstance(output, str):
                raise RuntimeError(f"policy {policy.name} returned a {type(output).__name__}, not text")
            answers[state.index] = output[:MAX_ANSWER_CHARS]
    if failure is not None:
        records, _ = _step_all(adapter, spec, [s for s in active if s.index in answers], answers, scored, prompts)
        raise RoundFailed(failure, records)
    return _step_all(adapter, spec, active, answers, scored, prompts)


class RoundFailed(RuntimeError):
    """The policy failed part-way through a round; `records` are the steps that did get an answer."""

    def __init__(self, failure: PolicyFailure, records: list[dict[str, Any]]) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.records = records


def _step_all(adapter: TaskAdapter, spec: EpisodeSpec, active: Sequence[_Active], answers: Mapping[int, str],
              scored: Mapping[int, bool], prompts: Mapping[int, dict[str, Any]]):
    records: list[dict[str, Any]] = []
    finished: list[_Active] = []
    for state in active:
        answer = answers[state.index]
        observation, reward, terminated, truncated, info = state.env.step(answer)
        done = bool(terminated or truncated)
        record = {
            "type": "step",
            "sample_id": sample_id(spec.split_key, state.index),
            "episode": state.index,
            "step": state.step,
            "decision": state.decision,
            "attempt": state.attempt,
            "scored": scored[state.index],
            "output": answer,
            "reward": float(reward),
            "verify_info": info.get("Verify Info"),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
        }
        record.update(adapter.step_fields(answer, float(reward), state.info, info) if record["scored"] else {"correct": False})
        if state.index in prompts:
            record["prompt"] = prompts[state.index]
        replayed = state.step < len(state.replay)
        if replayed:
            _check_replay(state.replay[state.step], record)
        else:
            records.append(record)
        state.total_reward += float(reward)
        state.scored_steps += int(record["scored"])
        state.conversation.record(answer, observation, info, done)
        if info.get("Verify Info") is None:
            state.decision, state.attempt = state.decision + 1, 0
        else:
            state.attempt += 1
        state.step += 1
        state.observation, state.info = observation, info
        if done:
            records.append({
                "type": "episode",
                "sample_id": sample_id(spec.split_key, state.index),
                "episode": state.index,
                "success": adapter.episode_success(bool(terminated), bool(truncated), info),
                "return": state.total_reward,
                "steps": state.step,
                "scored_steps": state.scored_steps,
                "truncated": bool(truncated),
                **state.start_fields,
            })
            finished.append(state)
    return records, finished


def _check_replay(logged: Mapping[str, Any], replayed: Mapping[str, Any]) -> None:
    for key in ("reward", "terminated", "truncated", "scored"):
        if logged.get(key) != replayed.get(key):
            raise ReplayMismatch(
                f"log record {logged.get('sample_id')} step {logged.get('step')} does not replay: logged {key}="
                f"{logged.get(key)!r}, now {replayed.get(key)!r}; the log was written under other settings"
            )
