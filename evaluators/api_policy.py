"""A policy served by an OpenAI-compatible chat-completions endpoint, `concurrency` requests in flight.

Conversation messages become OpenAI messages; every `{"type": "image"}` block becomes an `image_url` block
holding the image as a base64 PNG data URL. Each request carries a seed fixed by episode and step (servers
that honour `seed` then sample the same answer on a resumed run).
"""

from __future__ import annotations

import base64
import hashlib
import io
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

import numpy as np

from envs.errors import InputError
from evaluators.api_client import ApiError, ChatClient
from evaluators.policies import PolicyFailure, PolicyRequest


class ApiPolicyFailure(PolicyFailure):
    """A batch the endpoint failed; `retryable` is False when it refused a request (re-running fails alike)."""

    def __init__(self, message: str, answers: Sequence[str | None], *, retryable: bool) -> None:
        super().__init__(message, answers)
        self.retryable = retryable


class ImageEncoder:
    """PNG data URLs, cached by content (an episode's retries resend the same image)."""

    def __init__(self, capacity: int = 64) -> None:
        self._cache: OrderedDict[bytes, str] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def data_url(self, image: np.ndarray) -> str:
        key = hashlib.blake2b(np.ascontiguousarray(image).tobytes(), digest_size=16).digest() + repr(image.shape).encode()
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
        url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
        with self._lock:
            self._cache[key] = url
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return url


def openai_messages(messages: Sequence[dict[str, Any]], images: Sequence[np.ndarray], encoder: ImageEncoder) -> list[dict[str, Any]]:
    """Chat-template messages with `{"type": "image"}` blocks -> OpenAI messages with image data URLs."""
    pending = iter(images)
    converted = []
    for message in messages:
        content = message["content"]
        if isinstance(content, list):
            parts = []
            for block in content:
                if block.get("type") == "image":
                    image = next(pending, None)
                    if image is None:
                        raise ValueError("a message has more image blocks than the conversation has images")
                    parts.append({"type": "image_url", "image_url": {"url": encoder.data_url(image)}})
                else:
                    parts.append({"type": "text", "text": block.get("text", "")})
            content = parts
        converted.append({"role": message["role"], "content": content})
    return converted


class ApiPolicy:
    name = "api"

    def __init__(self, client: ChatClient, concurrency: int = 8, temperature: float = 0.0,
                 max_tokens: int = 256, top_p: float | None = None, send_seed: bool = True) -> None:
        if concurrency < 1:
            raise InputError("--concurrency must be at least 1")
        self.client = client
        self.concurrency = concurrency
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.top_p = top_p
        self.send_seed = send_seed
        self.encoder = ImageEncoder()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="eval-api")

    def describe(self) -> dict[str, Any]:
        return {"policy": self.name, "base_url": self.client.public_url.removesuffix("/chat/completions"),
                "model": self.client.model, "temperature": self.temperature, "max_tokens": self.max_tokens,
                "top_p": self.top_p}

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _one(self, request: PolicyRequest) -> str:
        messages = openai_messages(request.messages, request.images, self.encoder)
        return self.client.complete(messages, temperature=self.temperature, max_tokens=self.max_tokens,
                                    top_p=self.top_p, seed=request.seed % (2**31) if self.send_seed else None)

    def answer(self, requests: Sequence[PolicyRequest]) -> list[str]:
        futures = [self._pool.submit(self._one, request) for request in requests]
        answers: list[str | None] = []
        first_error: BaseException | None = None
        for future in futures:
            try:
                answers.append(future.result())
            except ApiError as error:
                answers.append(None)
                first_error = first_error or error
        if first_error is not None:
            raise ApiPolicyFailure(str(first_error), answers, retryable=first_error.retryable) from first_error
        return answers  # type: ignore[return-value]
