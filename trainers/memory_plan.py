"""Per-GPU memory of a training run, estimated before anything is loaded: pure arithmetic on the model's
dimensions (`ModelShape`) and the run's layout (`Layout`).

Model states follow the ZeRO paper (Rajbhandari et al. 2020, section 3.1) for mixed-precision Adam with Ψ
trainable parameters: 2Ψ bytes of bf16 weights, 2Ψ of bf16 gradients and K = 12Ψ of optimizer state (fp32
master weights, momentum and variance). Over N data-parallel ranks ZeRO partitions them per stage:

    stage 0: 2Ψ + 2Ψ + 12Ψ        stage 2: 2Ψ + (2Ψ + 12Ψ)/N
    stage 1: 2Ψ + 2Ψ + 12Ψ/N      stage 3: (2Ψ + 2Ψ + 12Ψ)/N

Offloading the optimizer (ZeRO-Offload) moves the 12Ψ/N of optimizer state, and the 4Ψ/N fp32 gradient copy
it steps from, to CPU memory; GPU gradients stay as above.

Activations of the update's forward/backward, per micro batch of b sequences of s tokens, hidden h, L layers,
vocabulary V (Korthikanti et al. 2022, "Reducing Activation Recomputation", eq. 2 with attention that keeps no
s x s score matrix, as SDPA/FlashAttention do): 34·s·b·h bytes per layer. With gradient checkpointing only each
layer's bf16 input stays (2·s·b·h per layer) plus one layer recomputed at a time (34·s·b·h). The logits add
8·s·b·V (fp32 logits and their log-softmax). PPO's rollout also holds the KV cache of its generation batch:
2 (K and V) · L · kv_heads · head_dim · s · batch · 2 bytes; rollout and update take turns, so the larger
of the two counts towards the total. This project's PPO has no frozen reference model (no KL penalty to one),
so there is none to count; the value head is trained with the policy and counted with it.

"Fits" means the GPU total stays within the GPU's memory less a 10 % reserve (CUDA context, allocator
fragmentation, communication buckets).
"""

from __future__ import annotations

from dataclasses import dataclass

from envs.errors import InputError

WEIGHT_BYTES, GRAD_BYTES, OPTIMIZER_BYTES, FP32_GRAD_BYTES = 2, 2, 12, 4
ACTIVATION_BYTES_PER_LAYER = 34
CHECKPOINTED_BYTES_PER_LAYER = 2
LOGIT_BYTES = 8
RESERVE = 0.10
GIB = 1024**3


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs of a model: its parameter count and the text decoder's dimensions."""

    parameters: int
    hidden_size: int
    num_layers: int
    vocab_size: int
    num_kv_heads: int
    head_dim: int


@dataclass(frozen=True)
class Layout:
    kind: str = "sft"
    """"sft" or "ppo" (adds the value head and the rollout's KV cache)."""
    world_size: int = 1
    zero_stage: int = 2
    offload_optimizer: bool = False
    batch_size: int = 1
    """Sequences per GPU per micro batch (PPO: the update's mini-batch per rank)."""
    max_length: int = 2048
    """Tokens per sequence (prompt + answer)."""
    gradient_checkpointing: bool = False
    generation_batch_size: int = 1
    """PPO: sequences generated together in a rollout (the environments per rank)."""
    gpu_memory: int = 80 * GIB


def value_head_parameters(hidden_size: int) -> int:
    """trainers.ppo.value_head.ValueHead: hidden -> hidden/4 -> hidden/8 -> 1, with biases."""
    first, second = max(hidden_size // 4, 1), max(hidden_size // 8, 1)
    return hidden_size * first + first + first * second + second + second + 1


def model_state_bytes(parameters: int, layout: Layout) -> dict[str, int]:
    """GPU bytes of weights, gradients and optimizer state per rank, and the CPU bytes offload moves there."""
    n, stage = layout.world_size, layout.zero_stage
    weights = WEIGHT_BYTES * parameters // (n if stage >= 3 else 1)
    grads = GRAD_BYTES * parameters // (n if stage >= 2 else 1)
    optimizer = OPTIMIZER_BYTES * parameters // (n if stage >= 1 else 1)
    cpu = 0
    if layout.offload_optimizer:
        cpu = optimizer + FP32_GRAD_BYTES * parameters // n
        optimizer = 0
    return {"weights": weights, "gradients": grads, "optimizer": optimizer, "cpu_offloaded": cpu}


def activation_bytes(shape: ModelShape, layout: Layout) -> int:
    """The update's activations for one micro batch (see the module docstring)."""
    tokens = layout.batch_size * layout.max_length
    per_layer = tokens * shape.hidden_size
    if layout.gradient_checkpointing:
        layers = CHECKPOINTED_BYTES_PER_LAYER * per_layer * shape.num_layers + ACTIVATION_BYTES_PER_LAYER * per_layer
    else:
        layers = ACTIVATION_BYTES_PER_LAYER * per_layer * shape.num_layers
    return layers + LOGIT_BYTES * tokens * shape.vocab_size


def kv_cache_bytes(shape: ModelShape, layout: Layout) -> int:
    """The rollout's bf16 KV cache for `generation_batch_size` sequences of `max_length` tokens."""
    return 2 * shape.num_layers * shape.num_kv_heads * shape.head_dim * layout.max_length \
        * layout.generation_batch_size * 2


def plan(shape: ModelShape, layout: Layout) -> dict[str, int | bool]:
    """Per-GPU bytes by part, their total, the CPU bytes of offload and whether the run fits."""
    if layout.kind not in ("sft", "ppo"):
        raise InputError(f"kind must be sft or ppo, got {layout.kind!r}")
    if layout.zero_stage not in (0, 1, 2, 3):
        raise InputError(f"ZeRO stage must be 0-3, got {layout.zero_stage}")
    if layout.offload_optimizer and layout.zero_stage == 0:
        raise InputError("optimizer offload needs ZeRO stage 1-3")
    trained = shape.parameters
    if layout.kind == "ppo":
        trained += value_head_parameters(shape.hidden_size)
    parts: dict[str, int] = model_state_bytes(trained, layout)
    cpu = parts.pop("cpu_offloaded")
    parts["activations"] = activation_bytes(shape, layout)
    if layout.kind == "ppo":
        parts["rollout_kv_cache"] = kv_cache_bytes(shape, layout)
    # The rollout and the update take turns: the KV cache is freed before the update's activations exist.
    peak_transient = max(parts["activations"], parts.get("rollout_kv_cache", 0))
    total = parts["weights"] + parts["gradients"] + parts["optimizer"] + peak_transient
    usable = int(layout.gpu_memory * (1 - RESERVE))
    return {"trained_parameters": trained, **parts, "total": total, "cpu_offloaded": cpu, "usable": usable,
            "fits": total <= usable}
