"""Image-text families beyond Mllama: tiny random Qwen2.5-VL, Qwen3-VL and Gemma 3 models built locally load
through the normal loader and encode GP-VL records through their own processor and chat template with
assistant-only labels; mixed batches give each row its own logits; Qwen2.5-VL also generates in batches like
one at a time, trains with SFT and (once the rollout keeps its vision inputs) runs a PPO update on GP-VL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from envs.general_points.config import GeneralPointsConfig
from envs.general_points.sft_data import GPDataSpec, generate_records
from envs.sft_records import write_records
from sftvsrl_cli.main import cli
from tests.helpers.tiny_vlm import build_tiny_gemma3, build_tiny_qwen2_5_vl, build_tiny_qwen3_vl
from tests.ppo_helpers import TINY_RUN
from trainers.config.schema import SFTConfig
from trainers.models import collate, encode_conversation, generate_batch, load_model
from trainers.models.chat import IGNORE_INDEX
from trainers.sft.data import load_sft_data
from trainers.sft.train import train_sft

BUILDERS = {"qwen2_5_vl": build_tiny_qwen2_5_vl, "qwen3_vl": build_tiny_qwen3_vl, "gemma3": build_tiny_gemma3}
# The image token the processor expands the placeholder into, and the end-of-turn text, per family.
IMAGE_TOKEN = {"qwen2_5_vl": "<|image_pad|>", "qwen3_vl": "<|image_pad|>", "gemma3": "<image_soft_token>"}
END_OF_TURN = {"qwen2_5_vl": "<|im_end|>", "qwen3_vl": "<|im_end|>", "gemma3": "<end_of_turn>"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-vlms")
    return {name: build(root / name) for name, build in BUILDERS.items()}


@pytest.fixture(scope="module")
def gp_vl(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("gp-vl")
    env = GeneralPointsConfig(language_only=False, resolution=128)
    write_records(generate_records(GPDataSpec(num=8, seed=0, env=env), folder / "images"), folder, "messages")
    return folder


def _image_token_id(loaded, family: str = "qwen2_5_vl") -> int:
    return loaded.tokenizer.convert_tokens_to_ids(IMAGE_TOKEN[family])


@pytest.mark.parametrize("family", list(BUILDERS))
def test_loads_through_the_normal_loader(folders, family):
    loaded = load_model(str(folders[family]), device="cpu")
    assert loaded.is_vision and loaded.family.name == family and loaded.family.layout == "concat"
    assert type(loaded.model).__name__.startswith(("Qwen2_5_VL", "Qwen3VL", "Gemma3"))
    assert loaded.attn_implementation == "sdpa" == loaded.model.config._attn_implementation
    assert type(loaded.processor).__name__ in ("Qwen2_5_VLProcessor", "Qwen3VLProcessor", "Gemma3Processor")
    assert loaded.pad_token_id is not None


def test_an_untested_family_loads_with_a_warning(folders, monkeypatch, caplog):
    from trainers.models import families

    assert load_model(str(folders["gemma3"]), device="cpu") and "untested" not in caplog.text
    monkeypatch.delitem(families.FAMILIES, "gemma3")
    loaded = load_model(str(folders["gemma3"]), device="cpu")
    assert loaded.is_vision and loaded.family.layout == "concat" and not loaded.family.tested
    assert "image-text family gemma3 is untested here (tested: mllama, qwen2_5_vl, qwen3_vl)" in caplog.text


@pytest.mark.parametrize("family", list(BUILDERS))
def test_gp_vl_record_encodes_with_its_image_and_assistant_only_labels(folders, gp_vl, family):
    from PIL import Image

    loaded = load_model(str(folders[family]), device="cpu")
    record = load_sft_data(next(gp_vl.glob("data.json*")))[0]
    with Image.open(record.images[0]) as image:
        encoded = encode_conversation(loaded, record.messages, [image.convert("RGB")], with_labels=True)
    ids, labels = encoded["input_ids"], encoded["labels"]
    image_tokens = int((ids == _image_token_id(loaded, family)).sum())
    if family == "gemma3":  # the start-of-image token becomes the image sequence (4 tokens for this tower)
        assert image_tokens == 4 and tuple(encoded["pixel_values"].shape) == (1, 3, 56, 56)
        assert ids.shape == encoded["token_type_ids"][0].shape
    else:  # the one <|image_pad|> of the template becomes one token per 2 x 2 patch group
        grid = encoded["image_grid_thw"][0]
        assert image_tokens == int(grid.prod()) // 4 > 1
        assert encoded["pixel_values"].shape[0] == int(grid.prod())
        assert ids.shape == encoded["mm_token_type_ids"][0].shape
        assert int((encoded["mm_token_type_ids"][0] == 1).sum()) == image_tokens
    # Labels: -100 everywhere except the answer tokens (the assistant text and its end-of-turn token).
    assert labels.shape == ids.shape
    answer = "".join(m["content"] for m in record.messages if m["role"] == "assistant")
    assert loaded.tokenizer.decode(ids[labels != IGNORE_INDEX]) == answer + END_OF_TURN[family]
    assert torch.equal(labels[labels != IGNORE_INDEX], ids[labels != IGNORE_INDEX])
    assert bool((labels[ids == _image_token_id(loaded, family)] == IGNORE_INDEX).all())


def _conversations(gp_vl: Path):
    from PIL import Image

    record = load_sft_data(next(gp_vl.glob("data.json*")))[1]
    with Image.open(record.images[0]) as image:
        picture = image.convert("RGB")
    prompt = [record.messages[0]]
    return [prompt, [{"role": "user", "content": "Say a number."}]], [[picture], []]


@pytest.mark.parametrize("family", ["qwen2_5_vl", "gemma3"])
@pytest.mark.parametrize("side", ["left", "right"])
def test_mixed_batch_gives_each_row_its_own_logits(folders, gp_vl, side, family):
    loaded = load_model(str(folders[family]), device="cpu")
    conversations, images = _conversations(gp_vl)
    examples = [encode_conversation(loaded, c, i, add_generation_prompt=True) for c, i in zip(conversations, images)]
    batch = collate(loaded, examples, padding_side=side)
    with torch.no_grad():
        together = loaded.model(**batch).logits
        for row, example in enumerate(examples):
            alone = loaded.model(**collate(loaded, [example])).logits[0]
            mask = batch["attention_mask"][row].bool()
            assert torch.allclose(together[row][mask], alone, atol=1e-4)


def test_batched_generation_equals_one_at_a_time(folders, gp_vl):
    loaded = load_model(str(folders["qwen2_5_vl"]), device="cpu")
    conversations, images = _conversations(gp_vl)
    conversations, images = conversations * 2, images * 2
    options = dict(max_new_tokens=5, temperature=0.0, do_sample=False)
    together = generate_batch(loaded, conversations, images, **options)
    alone = [generate_batch(loaded, [c], [i], **options)[0] for c, i in zip(conversations, images)]
    assert together == alone and all(together)


def test_max_length_that_cuts_the_image_is_a_clear_error(folders, gp_vl):
    loaded = load_model(str(folders["qwen2_5_vl"]), device="cpu")
    conversations, images = _conversations(gp_vl)
    with pytest.raises(ValueError, match="cuts into the image tokens"):
        encode_conversation(loaded, conversations[0], images[0], max_length=8)
    kept = encode_conversation(loaded, conversations[0], images[0], max_length=200)
    full = encode_conversation(loaded, conversations[0], images[0])
    cut = min(200, full["input_ids"].shape[0])
    assert kept["input_ids"].shape[0] == kept["mm_token_type_ids"].shape[1] == cut


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sft_steps_lower_the_loss(folders, gp_vl, tmp_path):
    settings = SFTConfig(max_steps=6, per_device_batch_size=4, learning_rate=3e-3, log_every=1)
    result = train_sft(settings, model=str(folders["qwen2_5_vl"]), data=str(gp_vl), output_dir=tmp_path, seed=0)
    assert result.last_loss < result.first_loss
    again = load_model(str(result.final_dir), device="cpu")
    assert again.family.name == "qwen2_5_vl" and type(again.processor).__name__ == "Qwen2_5_VLProcessor"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_ppo_update_on_gp_vl(folders, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["ppo", "--task", "gp-vl", "--model", str(folders["qwen2_5_vl"]),
                                      "--out", str(out), "--json", *TINY_RUN, "--num_updates=1",
                                      "--env_config.resolution=112", "--attn-implementation", "eager"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["update"] == 1 and record["episodes"] >= 0 and record["compute_flops"] > 0
    assert "value_loss" in record and record["policy_loss"] is not None
