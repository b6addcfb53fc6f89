"""Hub settings read from the environment at call time (HF_ENDPOINT, HF_HOME/HF_HUB_CACHE, HF_HUB_OFFLINE).

huggingface_hub reads these once, when it is imported; reading them here on every call means a command (or a
test) that sets them later is still obeyed. Also the one place that keeps a token out of messages.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "on", "yes", "true"}


def hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def hub_cache_dir() -> Path:
    """The hub cache folder, resolved exactly as huggingface_hub does (HF_HUB_CACHE, else HF_HOME/hub)."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser()
    default_home = os.path.join(os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache")),
                                "huggingface")
    return Path(os.path.expandvars(os.environ.get("HF_HOME", default_home))).expanduser() / "hub"


def hub_offline() -> bool:
    """HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) set to a true value."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in _TRUE


def redact_token(message: str) -> str:
    """The message with any configured hub token (environment or `hf auth login`) replaced by '***'."""
    tokens = [os.environ.get("HF_TOKEN"), os.environ.get("HUGGING_FACE_HUB_TOKEN")]
    try:
        from huggingface_hub import get_token

        tokens.append(get_token())
    except Exception:  # a broken token file must not hide the original message
        pass
    for token in tokens:
        if token and len(token) >= 4:
            message = message.replace(token, "***")
    return message
