"""Vision pre-training of the built-in `tiny-mllama`: its vision tower learns to read rendered playing cards.

A real image-text model such as Llama-3.2-Vision starts SFT with a vision encoder pre-trained on a web's worth
of images, so it can already read "7 of spades"; a tiny model built from a config starts from random weights,
and SFT through the cross-attention alone did not teach it to read the cards on a CPU budget (README,
Models). So the builder gives the tiny vision tower its own short pre-training: rendered GeneralPoints tables
(four random cards, any suits, drawn by the environment's renderer) go through the model's image processor,
and the vision tower's class token is trained with a linear read-out to name the four ranks, left to right.
The read-out is discarded; the vision tower keeps what it learnt. Deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from envs.general_points.cards import RANKS, SUITS, Card
from envs.general_points.render import render_table


@dataclass(frozen=True)
class CardReaderRecipe:
    steps: int = 800
    batch_size: int = 32
    learning_rate: float = 1e-3
    resolution: int = 448
    """Rendering side in pixels; the image processor resizes to the model's image size."""
    seed: int = 0


def rendered_hands(rng: np.random.Generator, count: int, resolution: int) -> tuple[list[np.ndarray], torch.Tensor]:
    """`count` tables of four random cards as images, and their ranks (count, 4) as indices into RANKS."""
    ranks = rng.integers(0, len(RANKS), size=(count, 4))
    suits = rng.integers(0, len(SUITS), size=(count, 4))
    images = [render_table([Card(RANKS[r], SUITS[s]) for r, s in zip(row_r, row_s)], resolution)
              for row_r, row_s in zip(ranks, suits)]
    return images, torch.as_tensor(ranks)


def class_token(vision_model: nn.Module, batch) -> torch.Tensor:
    """(B, dim): the vision tower's output at the class token of each single-tile image."""
    output = vision_model(pixel_values=batch["pixel_values"], aspect_ratio_ids=batch["aspect_ratio_ids"],
                          aspect_ratio_mask=batch["aspect_ratio_mask"])
    hidden = output[0] if isinstance(output, tuple) else output.last_hidden_state
    return hidden.reshape(hidden.shape[0], -1, hidden.shape[-1])[:, 0]


def pretrain_card_reader(model, image_processor, recipe: CardReaderRecipe = CardReaderRecipe()) -> float:
    """Train `model`'s vision tower in place; returns the read-out's rank accuracy on the last 4 batches."""
    vision_model = model.model.vision_model if hasattr(model, "model") else model.vision_model
    dim = model.config.vision_config.vision_output_dim
    readout = nn.Linear(dim, 4 * len(RANKS))
    parameters = list(vision_model.parameters()) + list(readout.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=recipe.learning_rate, weight_decay=0.0)
    rng = np.random.default_rng(recipe.seed)
    was_training = vision_model.training
    vision_model.train()
    recent: list[float] = []
    for _ in range(recipe.steps):
        images, ranks = rendered_hands(rng, recipe.batch_size, recipe.resolution)
        batch = image_processor(images=[[image] for image in images], return_tensors="pt")
        logits = readout(class_token(vision_model, batch)).view(-1, 4, len(RANKS))
        loss = nn.functional.cross_entropy(logits.reshape(-1, len(RANKS)), ranks.reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        recent = (recent + [(logits.argmax(-1) == ranks).float().mean().item()])[-4:]
    vision_model.train(was_training)
    return float(np.mean(recent)) if recent else 0.0
