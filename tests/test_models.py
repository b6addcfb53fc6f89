"""The shared model layer: built-in tiny models, chat encoding with assistant-only labels, batched generation."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from envs.conversation import EpisodeConversation
from envs.general_points.env import GeneralPointEnv
from envs.general_points.prompts import GeneralPointsPrompter
from trainers.models import IGNORE_INDEX, encode_conversation, generate_batch, load_model
from trainers.models.builtin import build_builtin, builtin_path, ensure_builtin


@pytest.fixture(scope="module")
def llama():
    return load_model("tiny-llama")


@pytest.fixture(scope="module")
def mllama():
    return load_model("tiny-mllama")


def gp_conversations(language_only: bool, n: int = 3):
    env = GeneralPointEnv(language_only=language_only, resolution=240)
    conversations, images = [], []
    for seed in range(n):
        observation, info = env.reset(seed=seed)
        conversation = EpisodeConversation(GeneralPointsPrompter(True, 24, language_only))
        conversation.start(observation, info)
        conversations.append(conversation.as_messages())
        images.append(conversation.images)
    return conversations, images


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_builtin_models_load_as_their_kind(llama, mllama):
    assert not llama.is_vision and llama.tokenizer is llama.processor
    assert mllama.is_vision and mllama.processor.tokenizer is mllama.tokenizer
    for loaded in (llama, mllama):
        assert next(loaded.model.parameters()).dtype == torch.float32
        assert loaded.device == torch.device("cpu")
        assert Path(loaded.path, "config.json").is_file()


def test_builtin_build_is_deterministic(tmp_path):
    build_builtin("tiny-llama", tmp_path / "a")
    build_builtin("tiny-llama", tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_concurrent_first_use_builds_once(tmp_path, monkeypatch):
    monkeypatch.setenv("SFTVSRL_CACHE_DIR", str(tmp_path))
    results, errors = [], []

    def use():
        try:
            results.append(ensure_builtin("tiny-llama"))
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=use) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(set(results)) == 1
    models = tmp_path / "models"
    assert sorted(p.name for p in models.iterdir() if not p.name.startswith(".")) == [builtin_path("tiny-llama").name]
    assert not [p for p in models.iterdir() if "building" in p.name]


def test_prompts_are_short_and_any_text_round_trips(llama):
    conversations, _ = gp_conversations(True, 1)
    ids = encode_conversation(llama, conversations[0], add_generation_prompt=True)["input_ids"]
    assert len(ids) < 100
    text = 'Straße 12 ünïcode 🙂 {"formula": "(10-4)*(3+1)=24"}'
    assert llama.tokenizer.decode(llama.tokenizer(text, add_special_tokens=False)["input_ids"]) == text


def test_save_load_round_trip_generates_the_same(llama, tmp_path):
    conversations, _ = gp_conversations(True)
    before = generate_batch(llama, conversations, max_new_tokens=8, temperature=0, do_sample=False)
    llama.model.save_pretrained(tmp_path)
    llama.tokenizer.save_pretrained(tmp_path)
    again = load_model(str(tmp_path))
    assert generate_batch(again, conversations, max_new_tokens=8, temperature=0, do_sample=False) == before
    for (name, a), (_, b) in zip(llama.model.state_dict().items(), again.model.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("which", [
    "llama", pytest.param("mllama", marks=[pytest.mark.slow, pytest.mark.timeout(1200)])])
def test_batched_left_padded_generation_equals_one_at_a_time(which, request):
    loaded = request.getfixturevalue(which)
    conversations, images = gp_conversations(which == "llama")
    # Conversations of different lengths, so left padding matters.
    conversations[1] = conversations[1] + [{"role": "assistant", "content": "{}"},
                                           {"role": "user", "content": "You failed this trial. Try again."}]
    batched = generate_batch(loaded, conversations, images, max_new_tokens=12, temperature=0, do_sample=False)
    single = [generate_batch(loaded, [c], [i], max_new_tokens=12, temperature=0, do_sample=False)[0]
              for c, i in zip(conversations, images)]
    assert batched == single
    assert all(isinstance(text, str) and text for text in batched)


def test_seeded_sampling_is_reproducible_and_leaves_global_rng(llama):
    conversations, _ = gp_conversations(True)
    state = torch.get_rng_state()
    first = generate_batch(llama, conversations, max_new_tokens=12, temperature=1.0, do_sample=True, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert generate_batch(llama, conversations, max_new_tokens=12, temperature=1.0, do_sample=True, seed=7) == first
    other = generate_batch(llama, conversations, max_new_tokens=12, temperature=1.0, do_sample=True, seed=8)
    assert other != first


@pytest.mark.parametrize("which", [
    "llama", pytest.param("mllama", marks=[pytest.mark.slow, pytest.mark.timeout(1200)])])
def test_labels_cover_only_assistant_turns(which, request):
    loaded = request.getfixturevalue(which)
    conversations, images = gp_conversations(which == "llama", 1)
    messages = conversations[0] + [
        {"role": "assistant", "content": '{"formula": "1+2"}'},
        {"role": "user", "content": "You failed this trial because your formula is wrong."},
        {"role": "assistant", "content": '{"formula": "(10-4)*(3+1)=24"}'},
    ]
    example = encode_conversation(loaded, messages, images[0], with_labels=True)
    labels, ids = example["labels"], example["input_ids"]
    kept = labels != IGNORE_INDEX
    assert torch.equal(labels[kept], ids[kept])
    eot = loaded.tokenizer.eos_token
    assert loaded.tokenizer.decode(ids[kept]) == f'{{"formula": "1+2"}}{eot}{{"formula": "(10-4)*(3+1)=24"}}{eot}'
    if which == "mllama":
        assert example["pixel_values"].shape[-2:] == (224, 224)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_text_model_ignores_images_and_vision_model_checks_them(llama, mllama):
    conversations, images = gp_conversations(False, 1)
    assert generate_batch(llama, conversations, images, max_new_tokens=4, temperature=0, do_sample=False)
    with pytest.raises(ValueError, match="image block"):
        encode_conversation(mllama, conversations[0], [])
    numpy_image = np.asarray(images[0][0])
    assert "pixel_values" in encode_conversation(mllama, conversations[0], [numpy_image])


def test_unknown_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_model(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="not found"):
        load_model("./no/such/folder")
