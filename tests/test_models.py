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
@pytest.mark.timeout(3600)
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
    "llama", pytest.param("mllama", marks=[pytest.mark.slow, pytest.mark.timeout(3600)])])
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
    "llama", pytest.param("mllama", marks=[pytest.mark.slow, pytest.mark.timeout(3600)])])
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
@pytest.mark.timeout(3600)
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


# -- attention implementation ----------------------------------------------------------------------------------

class _FlashModel:
    _supports_flash_attn, _supports_sdpa = True, True


class _SdpaOnlyModel:  # Mllama's case: sdpa but no flash attention
    _supports_flash_attn, _supports_sdpa = False, True


class _EagerOnlyModel:
    _supports_flash_attn, _supports_sdpa = False, False


@pytest.mark.parametrize("flash_installed, model_class, device, dtype, expected", [
    (True, _FlashModel, "cuda", torch.bfloat16, "flash_attention_2"),
    (True, _FlashModel, "cuda", torch.float16, "flash_attention_2"),
    (True, _FlashModel, "cuda", torch.float32, "sdpa"),
    (True, _FlashModel, "cpu", torch.bfloat16, "sdpa"),
    (False, _FlashModel, "cuda", torch.bfloat16, "sdpa"),
    (True, _SdpaOnlyModel, "cuda", torch.bfloat16, "sdpa"),
    (True, _EagerOnlyModel, "cuda", torch.bfloat16, "eager"),
])
def test_auto_attention_picks_the_best_available(monkeypatch, flash_installed, model_class, device, dtype, expected):
    from trainers.models import attention

    monkeypatch.setattr(attention, "flash_attn_installed", lambda: flash_installed)
    assert attention.choose_attention("auto", model_class, device, dtype) == expected
    assert attention.choose_attention(None, model_class, device, dtype) == expected


@pytest.mark.parametrize("flash_installed, model_class, device, dtype, requested, why", [
    (False, _FlashModel, "cuda", torch.bfloat16, "flash_attention_2", "flash_attn package is not installed"),
    (True, _FlashModel, "cpu", torch.bfloat16, "flash_attention_2", "needs a CUDA device"),
    (True, _FlashModel, "cuda", torch.float32, "flash_attention_2", "needs bf16 or fp16"),
    (True, _SdpaOnlyModel, "cuda", torch.bfloat16, "flash_attention_2", "_SdpaOnlyModel does not support it"),
    (True, _EagerOnlyModel, "cpu", torch.float32, "sdpa", "_EagerOnlyModel does not support it"),
    (True, _FlashModel, "cpu", torch.float32, "flex", "unknown attention implementation 'flex'"),
])
def test_unavailable_attention_is_an_input_error(monkeypatch, flash_installed, model_class, device, dtype,
                                                 requested, why):
    from envs.errors import InputError
    from trainers.models import attention

    monkeypatch.setattr(attention, "flash_attn_installed", lambda: flash_installed)
    with pytest.raises(InputError, match=why):
        attention.choose_attention(requested, model_class, device, dtype)


def test_loader_honours_the_attention_choice_and_the_block_preference(llama):
    from trainers.models.attention import preferred_attention

    assert llama.attn_implementation == llama.model.config._attn_implementation == "sdpa"  # auto on a CPU
    with preferred_attention("eager"):
        eager = load_model("tiny-llama", device="cpu")
        assert load_model("tiny-llama", device="cpu", attn_implementation="sdpa").attn_implementation == "sdpa"
    assert eager.attn_implementation == eager.model.config._attn_implementation == "eager"
    assert load_model("tiny-llama", device="cpu").attn_implementation == "sdpa"  # the preference ended
    ids = torch.tensor([[5, 17, 42, 99, 7, 3]])
    with torch.no_grad():
        assert torch.allclose(eager.model(input_ids=ids).logits, llama.model(input_ids=ids).logits, atol=1e-4)


def _gp_l_records(folder: Path) -> Path:
    from envs.general_points.config import GeneralPointsConfig
    from envs.general_points.sft_data import GPDataSpec, generate_records
    from envs.sft_records import write_records

    write_records(generate_records(GPDataSpec(num=8, seed=0, env=GeneralPointsConfig()), None), folder, "llava")
    return folder


@pytest.mark.parametrize("command", ["sft", "ppo", "eval", "recog"])
def test_every_model_command_refuses_flash_attention_without_flash_attn(command, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from sftvsrl_cli.main import cli
    from trainers.models import attention

    monkeypatch.setattr(attention, "flash_attn_installed", lambda: False)
    extra = {"sft": ["--data", str(_gp_l_records(tmp_path / "data"))], "ppo": ["--task", "gp-l"],
             "eval": ["--task", "gp-l"], "recog": ["--task", "gp-vl"]}[command]
    result = CliRunner().invoke(cli, [command, "--model", "tiny-llama", "--out", str(tmp_path / "out"),
                                      "--attn-implementation", "flash_attention_2", *extra])
    assert "--attn-implementation" in CliRunner().invoke(cli, [command, "--help"]).output
    assert result.exit_code == 2, result.output
    assert "flash_attention_2 is not available: the flash_attn package is not installed" in result.output
