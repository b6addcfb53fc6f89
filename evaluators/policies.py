"""The policy protocol every evaluator drives, and the two reference policies.

A policy answers a batch of requests, one per active episode: the chat messages so far (`as_messages()` of
`envs.conversation.EpisodeConversation`, images as `{"type": "image"}` blocks) and the images in order. The
oracle also reads the environment's `info` (the solution, the expert action), which model policies ignore.
`seed` is fixed per episode and step, so a sampled answer does not depend on batching or on resumption.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol, Sequence

import numpy as np


@dataclass
class PolicyRequest:
    episode: int
    step: int
    messages: list[dict[str, Any]]
    images: list[np.ndarray]
    info: Mapping[str, Any]
    seed: int


class PolicyFailure(RuntimeError):
    """A batch that failed part-way; `answers` holds what did arrive (None where it did not), so the runner
    logs those before stopping and a resumed run does not pay for them again."""

    def __init__(self, message: str, answers: Sequence[str | None]) -> None:
        super().__init__(message)
        self.answers = list(answers)


class Policy(Protocol):
    name: str

    def describe(self) -> dict[str, Any]:
        """What identifies the policy's answers (model, generation settings); stored with the run."""
        ...

    def answer(self, requests: Sequence[PolicyRequest]) -> list[str]:
        """One raw answer per request, in order."""
        ...


class OraclePolicy:
    """Answers with the environment's expert answer (GP: the solver's solution; V-IRL: the expert action)."""

    name = "oracle"

    def __init__(self, adapter) -> None:
        self.adapter = adapter

    def describe(self) -> dict[str, Any]:
        return {"policy": self.name}

    def answer(self, requests: Sequence[PolicyRequest]) -> list[str]:
        return [self.adapter.expert_answer(request.info) for request in requests]


_GARBAGE_FORMS = (
    "",
    "I cannot answer that.",
    '{"cards": [',
    "{" * 200,
    '{"formula": "24"}',
    '```json\n{"action": "fly()", "formula": "(((((("}\n```',
    "\x00\x01 \u202e ﷽",
)


class GarbagePolicy:
    """Answers hostile junk: empty text, truncated or deeply nested JSON, control characters, random bytes."""

    name = "garbage"

    def describe(self) -> dict[str, Any]:
        return {"policy": self.name}

    def answer(self, requests: Sequence[PolicyRequest]) -> list[str]:
        answers = []
        for request in requests:
            rng = np.random.default_rng(request.seed)
            choice = int(rng.integers(0, len(_GARBAGE_FORMS) + 1))
            if choice < len(_GARBAGE_FORMS):
                answers.append(_GARBAGE_FORMS[choice])
            else:
                codes = rng.integers(32, 127, size=int(rng.integers(1, 400)))
                answers.append("".join(map(chr, codes)))
        return answers
