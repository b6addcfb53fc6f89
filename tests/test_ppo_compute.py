"""Compute accounting: X_RL = 6 N (D_init + D_RL) + 2 N D_buffer, with image tokens for vision samples."""

from types import SimpleNamespace

import pytest
import torch

from trainers.models.families import image_tokens_per_image
from trainers.ppo.compute import ComputeLedger, update_tokens
from trainers.ppo.storage import RolloutStorage
from trainers.ppo.transition import Transition


def test_image_tokens_follow_the_vision_config_where_images_are_not_in_the_text():
    vision = SimpleNamespace(image_size=224, patch_size=16, max_num_tiles=1)
    assert image_tokens_per_image(SimpleNamespace(model_type="mllama", vision_config=vision)) == 14 * 14 + 1
    # Llama-3.2-Vision (560 px, 14 px patches, 4 tiles): the published code's "1601 visual tokens".
    big = SimpleNamespace(image_size=560, patch_size=14, max_num_tiles=4)
    assert image_tokens_per_image(SimpleNamespace(model_type="mllama", vision_config=big)) == 1601
    assert image_tokens_per_image(SimpleNamespace(model_type="llama")) == 0
    # Qwen-VL and Gemma 3 write an image's tokens into input_ids: counted with the text, never twice.
    siglip = SimpleNamespace(image_size=896, patch_size=14)
    for model_type in ("gemma3", "qwen2_5_vl", "qwen3_vl"):
        assert image_tokens_per_image(SimpleNamespace(model_type=model_type, vision_config=siglip)) == 0


def test_update_tokens_and_ledger():
    storage = RolloutStorage(1, 2)
    text = Transition([1] * 10, [2] * 5, [1.0] * 5)
    image = Transition([1] * 20, [2] * 4, [1.0] * 4, {"pixel_values": torch.zeros(1)})
    storage.add_round([text, image], torch.zeros(2), torch.zeros(2), [0.0, 0.0], [False, False], [False, False])
    train, buffer = update_tokens(storage, ppo_epoch=4, image_tokens=100, bootstrap_tokens=7)
    sequence = 10 + 5 + 20 + 4 + 100
    assert train == 4 * sequence and buffer == 2 * sequence + 7
    ledger = ComputeLedger(parameters=1000, init_flops=5.0)
    out = ledger.add_update(train, buffer)
    assert out["compute_flops"] == pytest.approx(5.0 + 6 * 1000 * train + 2 * 1000 * buffer)
    ledger.add_update(train, buffer)
    assert ledger.total_flops == pytest.approx(5.0 + 2 * (6 * 1000 * train + 2 * 1000 * buffer))
    restored = ComputeLedger(parameters=1)
    restored.load_state_dict(ledger.state_dict())
    assert restored.total_flops == ledger.total_flops
