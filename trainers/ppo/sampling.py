"""Batched sampling for rollouts: conversations -> prompt token ids (+ vision inputs) -> answer token ids.

Unlike `trainers.models.generation.generate_batch`, which returns text, this keeps the exact sampled token
ids (the log-probs PPO needs are of those ids, not of a re-tokenisation of the text) and each prompt's own
encoding, so the update recomputes log-probs on precisely what was sampled. One left-padded batch, KV cache,
at the policy's temperature (the same temperature the log-prob computation divides the logits by).

With `score=True` the same generate call also returns what the rollout would otherwise compute in a second
forward over prompt + answer: each sampled token's log-prob at the sampling temperature (from the raw logits
of every decoding step) and the last-layer hidden state at the last prompt token (the input of the final
projection during the prefill step, which is where the critic reads). They equal the separate forward's up to
floating-point rounding of the KV-cache path.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from trainers.models.chat import collate, encode_conversation, vision_inputs
from trainers.models.generation import stop_token_ids
from trainers.ppo.conversation_cache import ConversationCache



@dataclass
class EncodedPrompt:
    ids: list[int]
    extra_inputs: dict[str, torch.Tensor] | None
    """Vision inputs (batch dimension 1) when the prompt has images and the model reads them."""
    example: dict[str, Any]
    """The encoded example as `trainers.models.chat.collate` takes it."""


def encode_prompt(loaded, messages: Sequence[dict[str, Any]], images: Sequence[Any]) -> EncodedPrompt:
    example = encode_conversation(loaded, messages, images, add_generation_prompt=True)
    extra = vision_inputs(example)
    if "pixel_values" in extra:
        extra["pixel_values"] = extra["pixel_values"].to(next(loaded.model.parameters()).dtype)
    return EncodedPrompt(example["input_ids"].tolist(), extra or None, example)


def cut_at_stop(ids: Sequence[int], stop_ids: Sequence[int], pad_id: int) -> list[int]:
    """Generated ids up to and including the first stop token; trailing padding removed otherwise."""
    out: list[int] = []
    for token in ids:
        out.append(int(token))
        if token in stop_ids:
            return out
    while out and out[-1] == pad_id and pad_id not in stop_ids:
        out.pop()
    return out


@dataclass
class ScoredAnswers:
    answers: list[list[int]]
    """The sampled token ids of each answer, up to and including its stop token."""
    token_log_probs: list[torch.Tensor]
    """Per answer, (len(answer),): log pi(token) at the sampling temperature."""
    prompt_hidden: torch.Tensor
    """(B, hidden): the last-layer hidden state at each prompt's last token."""


@torch.no_grad()
def sample_answers(loaded, model, prompts: Sequence[EncodedPrompt], *, temperature: float, top_p: float,
                   max_new_tokens: int, do_sample: bool = True, batch_size: int | None = None,
                   score: bool = False, conversation_cache: ConversationCache | None = None
                   ) -> list[list[int]] | ScoredAnswers:
    """Sample one answer per prompt with `model` (the policy backbone); returns the answer token ids, or
    with `score` a `ScoredAnswers` (answers, their token log-probs and the prompts' last hidden states).

    Prompts with and without images go in separate batches (as generate_batch does); `batch_size` bounds
    the batch (None: all prompts of a kind at once). With a `conversation_cache`, a single batch of text
    prompts continues from the previous call's KV cache where the prompts extend the previous conversations.
    """
    stops = stop_token_ids(loaded)
    options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "use_cache": True, "pad_token_id": loaded.pad_token_id,
                               "eos_token_id": stops}
    if do_sample and temperature > 0:
        options.update(do_sample=True, temperature=temperature, top_p=top_p, top_k=0)
    else:
        options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    answers: list[list[int]] = [[] for _ in prompts]
    token_log_probs: list[torch.Tensor] = [torch.empty(0) for _ in prompts]
    hidden_rows: list[torch.Tensor | None] = [None for _ in prompts]
    was_training = model.training
    model.eval()
    groups = _groups(prompts, batch_size)
    cached = conversation_cache is not None and len(groups) == 1 and not any(p.extra_inputs for p in prompts)
    if conversation_cache is not None and not cached:
        conversation_cache.reset()
    # The cache and the logits of every step come back only in generate's dict output.
    options.update(return_dict_in_generate=cached or score, output_logits=score)
    try:
        for group in groups:
            batch = conversation_cache.inputs([p.ids for p in prompts], loaded.pad_token_id, device) if cached else None
            if batch is None:
                batch = collate(loaded, [prompts[i].example for i in group], padding_side="left")
                batch = {k: v.to(device, dtype=dtype) if k == "pixel_values" else v.to(device)
                         for k, v in batch.items()}
            with _capture_prefill_hidden(model) if score else contextlib.nullcontext() as captured:
                generated = model.generate(**batch, **options)
            sequences = generated.sequences if (score or cached) else generated
            new_tokens = sequences[:, batch["input_ids"].shape[1]:]
            if score:
                step_log_probs = _sampled_log_probs(generated.logits, new_tokens, temperature)
            for row, (index, ids) in enumerate(zip(group, new_tokens.tolist())):
                answers[index] = cut_at_stop(ids, stops, loaded.pad_token_id)
                if score:
                    token_log_probs[index] = step_log_probs[row, : len(answers[index])].cpu()
                    hidden_rows[index] = captured[0][row]
            if cached:
                conversation_cache.remember(generated, batch["attention_mask"], [p.ids for p in prompts], answers)
    finally:
        model.train(was_training)
    if not score:
        return answers
    return ScoredAnswers(answers, token_log_probs, torch.stack(hidden_rows))  # type: ignore[arg-type]


def _sampled_log_probs(step_logits: Sequence[torch.Tensor], tokens: torch.Tensor, temperature: float) -> torch.Tensor:
    """(B, steps): log-softmax(logits / temperature) of the sampled token at every decoding step."""
    scale = temperature if temperature > 0 else 1.0
    logits = torch.stack(step_logits, dim=1).float() / scale
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens[:, : logits.shape[1]].unsqueeze(-1)).squeeze(-1)


@contextlib.contextmanager
def _capture_prefill_hidden(model):
    """Records the input of the output projection at the last position on its first call (the prefill),
    i.e. the last-layer hidden state at the last prompt token of every row of a left-padded batch."""
    captured: list[torch.Tensor] = []

    def hook(_module, args):
        if not captured:
            captured.append(args[0][:, -1].detach())

    handle = model.get_output_embeddings().register_forward_pre_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def _groups(prompts: Sequence[EncodedPrompt], batch_size: int | None) -> list[list[int]]:
    groups = []
    for with_images in (False, True):
        indices = [i for i, p in enumerate(prompts) if bool(p.extra_inputs) == with_images]
        step = batch_size or max(1, len(indices))
        groups.extend(indices[start:start + step] for start in range(0, len(indices), step))
    return [g for g in groups if g]
