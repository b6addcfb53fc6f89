"""The multi-turn conversation of one episode, the same for every environment and for every consumer
(SFT data, PPO rollouts, local and API evaluation).

A task's `Prompter` turns an observation into a user turn (text plus an optional image) and a failed
attempt's `Verify Info` into a feedback turn. `EpisodeConversation` applies the paper's sequential revision:
after a failed attempt the answer and the verifier's message are appended and the model answers again; when
the environment moves on to a new decision point (V-IRL after a correct action) the conversation restarts
from that point's prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


@dataclass
class Turn:
    role: str  # "user" or "assistant"
    text: str
    image: np.ndarray | None = None


class Prompter(Protocol):
    def prompt(self, observation: Any, info: dict[str, Any]) -> Turn:
        """The user turn that opens a decision point."""
        ...

    def feedback(self, info: dict[str, Any]) -> Turn:
        """The user turn after a failed attempt, built from info["Verify Info"]."""
        ...


@dataclass
class EpisodeConversation:
    prompter: Prompter
    enable_verification: bool = True
    turns: list[Turn] = field(default_factory=list)

    def start(self, observation: Any, info: dict[str, Any]) -> None:
        self.turns = [self.prompter.prompt(observation, info)]

    def record(self, answer: str, observation: Any, info: dict[str, Any], done: bool) -> None:
        """Account for the model's `answer` and the environment's reply to it."""
        if done:
            self.turns.append(Turn("assistant", answer))
        elif info.get("Verify Info") is not None and self.enable_verification:
            self.turns.append(Turn("assistant", answer))
            self.turns.append(self.prompter.feedback(info))
        else:
            self.start(observation, info)

    @property
    def images(self) -> list[np.ndarray]:
        return [turn.image for turn in self.turns if turn.image is not None]

    def as_messages(self) -> list[dict[str, Any]]:
        """Chat-template messages; an image turn gets an `{"type": "image"}` block before its text."""
        messages = []
        for turn in self.turns:
            if turn.image is not None:
                content: Any = [{"type": "image"}, {"type": "text", "text": turn.text}]
            else:
                content = turn.text
            messages.append({"role": turn.role, "content": content})
        return messages
