"""Turn on activation (gradient) checkpointing on a transformers model, under either name transformers uses.

transformers 5.x renamed `gradient_checkpointing_enable` to `activation_checkpointing_enable` (the old name
warns and goes in v6); older releases have only the old name. Non-reentrant checkpointing either way.
"""

from __future__ import annotations

from typing import Any


def enable_activation_checkpointing(model: Any) -> None:
    """Recompute each layer's activations in the backward pass instead of keeping them."""
    if hasattr(model, "activation_checkpointing_enable"):
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
