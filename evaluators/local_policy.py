"""A policy backed by a local checkpoint (a folder, a hub id, or a built-in tiny model): batched generation.

One round of the episode runner is one `generate_batch` call over every active episode (`batch_size` at a
time on the device). With sampling on, the batch is seeded from its first request's seed, so a run is
reproducible; greedy decoding (the published evaluation setting) does not depend on seeds at all.
"""

from __future__ import annotations

from typing import Any, Sequence

from evaluators.policies import PolicyRequest


class LocalModelPolicy:
    name = "model"

    def __init__(self, loaded, max_new_tokens: int = 256, temperature: float = 0.0, do_sample: bool = False,
                 top_p: float = 1.0, device_batch_size: int | None = None) -> None:
        self.loaded = loaded
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.do_sample = do_sample
        self.top_p = top_p
        self.device_batch_size = device_batch_size

    def describe(self) -> dict[str, Any]:
        return {"policy": self.name, "model": self.loaded.name, "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature, "do_sample": self.do_sample, "top_p": self.top_p}

    def answer(self, requests: Sequence[PolicyRequest]) -> list[str]:
        from trainers.models import generate_batch

        if not requests:
            return []
        return generate_batch(
            self.loaded,
            [request.messages for request in requests],
            [request.images for request in requests],
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            do_sample=self.do_sample,
            top_p=self.top_p,
            seed=requests[0].seed % (2**31),
            batch_size=self.device_batch_size,
        )
