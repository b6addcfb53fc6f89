"""The actor-critic: the (vision-)language model as policy plus a value head sharing its backbone.

The critic reads the last-layer hidden state at the last prompt token (the paper's setup). The published head
is 4096 -> 1024 -> 512 -> 1 for Llama-3.2-11B; here the widths follow the model's hidden size (h -> h/4 -> h/8).
The action log-prob of an answer is sum_t w_t log pi(a_t | ...) with per-token weights w_t (see action_logprob),
computed at the sampling temperature.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from envs.errors import ModelLoadError
from trainers.models.families import text_hidden_size
from trainers.ppo.transition import Transition

# Model inputs with a sequence dimension (dim 1) besides input_ids/attention_mask, and how to extend them over
# the answer tokens: Mllama's cross-attention mask repeats its last row, as generate() itself does.
_PER_TOKEN_INPUTS = {"cross_attention_mask": "repeat_last", "token_type_ids": "zeros", "mm_token_type_ids": "zeros"}


def hidden_size_of(model: nn.Module) -> int:
    """The width of the last hidden state, for any causal LM or image-text model config."""
    size = text_hidden_size(model.config)
    if size is not None:
        return size
    if hasattr(model, "get_input_embeddings"):
        return int(model.get_input_embeddings().weight.shape[1])
    raise ModelLoadError(f"cannot find the hidden size of {type(model).__name__} (no hidden_size in its config or "
                         "text_config, no input embeddings): ppo's value head does not support this model")


class ValueHead(nn.Module):
    """MLP hidden -> hidden/4 -> hidden/8 -> 1 (ReLU), the published 4096 -> 1024 -> 512 -> 1 shape."""

    def __init__(self, hidden_size: int):
        super().__init__()
        first, second = max(hidden_size // 4, 1), max(hidden_size // 8, 1)
        self.net = nn.Sequential(nn.Linear(hidden_size, first), nn.ReLU(), nn.Linear(first, second), nn.ReLU(),
                                 nn.Linear(second, 1))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.net(hidden).squeeze(-1)


class PolicyWithValue(nn.Module):
    """Backbone (policy) + value head as one module, so that optimisers and DeepSpeed see both."""

    def __init__(self, backbone: nn.Module, value_head: ValueHead | None = None, value_grad_to_backbone: bool = True):
        super().__init__()
        self.backbone = backbone
        self.value_grad_to_backbone = value_grad_to_backbone
        self.value_head = value_head or ValueHead(hidden_size_of(backbone))
        self.value_head.to(device=next(backbone.parameters()).device)

    def forward(self, samples: list[Transition], temperature: float, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(action log-probs, values), both (B,). Text samples run as one right-padded batch; samples with
        vision inputs run one at a time (image tensors do not batch uniformly across model families)."""
        text = [i for i, s in enumerate(samples) if not s.extra_inputs]
        vision = [i for i, s in enumerate(samples) if s.extra_inputs]
        log_probs: list[torch.Tensor | None] = [None] * len(samples)
        values: list[torch.Tensor | None] = [None] * len(samples)
        if text:
            lp, v = self._forward_batch([samples[i] for i in text], temperature, pad_id)
            for j, i in enumerate(text):
                log_probs[i], values[i] = lp[j], v[j]
        for i in vision:
            lp, v = self._forward_batch([samples[i]], temperature, pad_id)
            log_probs[i], values[i] = lp[0], v[0]
        return torch.stack(log_probs), torch.stack(values)  # type: ignore[arg-type]

    def last_prompt_hidden(self, samples: list[Transition], pad_id: int) -> torch.Tensor:
        """(B, hidden): the last-layer hidden state at each sample's last prompt token (the critic's input)."""
        rows = []
        for sample in samples:
            ids = torch.tensor([sample.prompt_ids], device=next(self.backbone.parameters()).device)
            inputs: dict[str, Any] = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
            if sample.extra_inputs:
                inputs.update(_extend_per_token_inputs(sample.extra_inputs, ids.shape[1], ids.device))
            outputs = self.backbone(**inputs, output_hidden_states=True, use_cache=False)
            rows.append(outputs.hidden_states[-1][0, -1])
        return torch.stack(rows)

    def _forward_batch(self, samples: list[Transition], temperature: float, pad_id: int):
        device = next(self.backbone.parameters()).device
        sequences = [s.prompt_ids + s.answer_ids for s in samples]
        carriers, carrier_of = (_pack(sequences) if not samples[0].extra_inputs
                                else (sequences, list(range(len(samples)))))
        width = max(len(c) for c in carriers)
        input_ids = torch.full((len(carriers), width), pad_id, dtype=torch.long)
        attention = torch.zeros((len(carriers), width), dtype=torch.long)
        for row, ids in enumerate(carriers):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            attention[row, : len(ids)] = 1
        weights = torch.zeros((len(samples), width))
        for row, sample in enumerate(samples):
            # weights[t] multiplies log p(token t+1 | tokens <= t): positions of the answer, shifted by one.
            start = len(sample.prompt_ids) - 1
            weights[row, start : start + len(sample.answer_ids)] = torch.tensor(sample.answer_weights)
        inputs: dict[str, Any] = {"input_ids": input_ids.to(device), "attention_mask": attention.to(device)}
        if samples[0].extra_inputs:
            inputs.update(_extend_per_token_inputs(samples[0].extra_inputs, width, device))
        outputs = self.backbone(**inputs, output_hidden_states=True, use_cache=False)
        logits = outputs.logits[:, :-1].float() / temperature
        targets = inputs["input_ids"][:, 1:]
        token_log_probs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        rows = torch.tensor(carrier_of, device=device)
        action_log_probs = (token_log_probs[rows] * weights[:, :-1].to(device)).sum(dim=1)
        last_prompt = torch.tensor([len(s.prompt_ids) - 1 for s in samples], device=device)
        hidden = outputs.hidden_states[-1][rows, last_prompt]
        if not self.value_grad_to_backbone:
            hidden = hidden.detach()
        return action_log_probs, self.values_from_hidden(hidden)

    def values_from_hidden(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B,) critic values of (B, hidden) last-prompt-token hidden states."""
        weight = self.value_head.net[0].weight
        return self.value_head(hidden.to(device=weight.device, dtype=weight.dtype)).float()


def _pack(sequences: list[list[int]]) -> tuple[list[list[int]], list[int]]:
    """(carriers, carrier of each sequence): every sequence that is a prefix of a longer one (an earlier turn of
    the same conversation) is read from that one's forward, which causal attention makes identical."""
    carriers: list[list[int]] = []
    carrier_of = [0] * len(sequences)
    for index in sorted(range(len(sequences)), key=lambda i: -len(sequences[i])):
        sequence = sequences[index]
        for number, carrier in enumerate(carriers):
            if carrier[: len(sequence)] == sequence:
                carrier_of[index] = number
                break
        else:
            carrier_of[index] = len(carriers)
            carriers.append(sequence)
    return carriers, carrier_of


def _extend_per_token_inputs(extra: dict[str, torch.Tensor], width: int, device) -> dict[str, torch.Tensor]:
    """Vision inputs for the prompt + answer sequence: per-token tensors grow to `width` positions."""
    extended = {}
    for key, tensor in extra.items():
        tensor = tensor.to(device)
        mode = _PER_TOKEN_INPUTS.get(key)
        if mode is not None and tensor.dim() >= 2 and tensor.shape[1] < width:
            missing = width - tensor.shape[1]
            if mode == "repeat_last":
                tail = tensor[:, -1:].expand(tensor.shape[0], missing, *tensor.shape[2:])
            else:
                tail = torch.zeros((tensor.shape[0], missing, *tensor.shape[2:]), dtype=tensor.dtype, device=device)
            tensor = torch.cat([tensor, tail], dim=1)
        extended[key] = tensor
    return extended
