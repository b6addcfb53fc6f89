"""The vision (tiny-mllama) code paths in the fast suite, on an untrained copy of the built-in model.

The real `tiny-mllama` pre-trains its vision tower at build time (minutes on a CPU), so every test that loads it
is marked slow. These tests build the same architecture with that pre-training skipped (a few seconds) and
check what does not depend on trained weights: image encoding and its checks, assistant-only labels, batched
generation with images, and SFT with a frozen vision tower.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from envs.conversation import EpisodeConversation
from envs.general_points.config import GeneralPointsConfig
from envs.general_points.env import GeneralPointEnv
from envs.general_points.prompts import GeneralPointsPrompter
from envs.general_points.sft_data import GPDataSpec, generate_records
from envs.sft_records import write_records
from trainers.config.schema import SFTConfig
from trainers.models import IGNORE_INDEX, encode_conversation, generate_batch, load_model
from trainers.models.builtin import IMAGE_SIZE, build_builtin
from trainers.sft.train import train_sft


@pytest.fixture(scope="module")
def untrained_mllama(tmp_path_factory) -> Path:
    """A folder holding tiny-mllama as built, minus the vision tower's card-reading pre-training."""
    folder = tmp_path_factory.mktemp("untrained-mllama")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("trainers.models.card_reader_pretraining.pretrain_card_reader", lambda *args, **kwargs: 0.0)
        build_builtin("tiny-mllama", folder)
    return folder


@pytest.fixture(scope="module")
def mllama(untrained_mllama):
    return load_model(str(untrained_mllama))


def gp_vl_conversations(n: int) -> tuple[list, list]:
    env = GeneralPointEnv(language_only=False, resolution=240)
    conversations, images = [], []
    for seed in range(n):
        observation, info = env.reset(seed=seed)
        conversation = EpisodeConversation(GeneralPointsPrompter(True, 24, False))
        conversation.start(observation, info)
        conversations.append(conversation.as_messages())
        images.append(conversation.images)
    return conversations, images


def test_vision_model_needs_its_images_and_labels_only_assistant_turns(mllama):
    assert mllama.is_vision and mllama.processor.tokenizer is mllama.tokenizer
    conversations, images = gp_vl_conversations(1)
    with pytest.raises(ValueError, match="image block"):
        encode_conversation(mllama, conversations[0], [])
    messages = conversations[0] + [
        {"role": "assistant", "content": '{"formula": "1+2"}'},
        {"role": "user", "content": "You failed this trial because your formula is wrong."},
        {"role": "assistant", "content": '{"formula": "(10-4)*(3+1)=24"}'},
    ]
    example = encode_conversation(mllama, messages, [np.asarray(images[0][0])], with_labels=True)
    kept = example["labels"] != IGNORE_INDEX
    eot = mllama.tokenizer.eos_token
    assert mllama.tokenizer.decode(example["input_ids"][kept]) == \
        f'{{"formula": "1+2"}}{eot}{{"formula": "(10-4)*(3+1)=24"}}{eot}'
    assert example["pixel_values"].shape[-2:] == (IMAGE_SIZE, IMAGE_SIZE)


def test_batched_generation_with_images_equals_one_at_a_time(mllama):
    conversations, images = gp_vl_conversations(2)
    conversations[1] = conversations[1] + [{"role": "assistant", "content": "{}"},
                                           {"role": "user", "content": "You failed this trial. Try again."}]
    batched = generate_batch(mllama, conversations, images, max_new_tokens=8, temperature=0, do_sample=False)
    single = [generate_batch(mllama, [c], [i], max_new_tokens=8, temperature=0, do_sample=False)[0]
              for c, i in zip(conversations, images)]
    assert batched == single and all(isinstance(text, str) and text for text in batched)


def test_sft_with_a_frozen_vision_tower_trains_only_the_text_model(untrained_mllama, tmp_path):
    records = generate_records(GPDataSpec(num=4, seed=0, env=GeneralPointsConfig(language_only=False, resolution=128)),
                               tmp_path / "data" / "images")
    write_records(records, tmp_path / "data", "messages")
    settings = SFTConfig(max_steps=2, per_device_batch_size=4, freeze_vision_tower=True, freeze_projector=True)
    train_sft(settings, model=str(untrained_mllama), data=str(tmp_path / "data"), output_dir=tmp_path / "out", seed=0)
    after = load_file(str(tmp_path / "out" / "final" / "model.safetensors"))
    before = load_file(str(untrained_mllama / "model.safetensors"))
    vision = [k for k in before if "vision_model" in k or "multi_modal_projector" in k]
    text = [k for k in before if "language_model" in k and "layers.0." in k]
    assert vision and all(torch.equal(after[k], before[k]) for k in vision)
    assert text and any(not torch.equal(after[k], before[k]) for k in text)
