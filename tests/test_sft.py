"""`sftvsrl sft`: data checks, assistant-only loss, resume, DeepSpeed ZeRO-2 on two CPU ranks, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from envs.general_points.config import GeneralPointsConfig
from envs.general_points.sft_data import GPDataSpec, generate_records
from envs.sft_records import write_records
from trainers.config.schema import SFTConfig
from sftvsrl_cli.main import cli
from trainers.models import load_model
from trainers.sft.batches import EncodedSFTData
from trainers.sft.data import SFTDataError, load_sft_data
from trainers.sft.train import train_sft

REPO = Path(__file__).resolve().parents[1]


def write_gp(folder: Path, num: int, fmt: str = "llava", language_only: bool = True, multi_turn: bool = False) -> Path:
    env = GeneralPointsConfig(language_only=language_only, resolution=128)
    records = generate_records(GPDataSpec(num=num, seed=0, env=env, multi_turn=multi_turn),
                               None if language_only else folder / "images")
    write_records(records, folder, fmt)
    return folder


@pytest.fixture(scope="module")
def gp_l(tmp_path_factory) -> Path:
    return write_gp(tmp_path_factory.mktemp("gp-l"), 64)


def weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


# -- data checks ---------------------------------------------------------------------------------------------

def test_both_layouts_give_the_same_conversations(tmp_path):
    llava = load_sft_data(write_gp(tmp_path / "a", 3, "llava", language_only=False))
    messages = load_sft_data(write_gp(tmp_path / "b", 3, "messages", language_only=False))
    assert [e.messages for e in llava] == [e.messages for e in messages]
    assert all(len(e.images) == 1 and e.images[0].is_file() for e in llava)
    assert llava[0].messages[0]["content"][0] == {"type": "image"}


@pytest.mark.parametrize("content, expected", [
    ("", "the file is empty"),
    ("[{\"id\": \"a\", \"conversations\": [", "malformed JSON at line 1"),
    (json.dumps([{"id": "x", "conversations": [{"from": "human", "value": "hi"}]}]), r"record 0 \(id x\).*no assistant turn"),
    (json.dumps([{"id": "x", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "a"}]},
                 {"id": "y", "image": "images/missing.png",
                  "conversations": [{"from": "human", "value": "<image>\nhi"}, {"from": "gpt", "value": "a"}]}]),
     r"record 1 \(id y\): image file not found"),
    (json.dumps([{"id": "z", "conversations": [{"from": "robot", "value": "hi"}]}]), "unknown 'from'"),
])
def test_bad_data_is_reported_with_file_and_record(tmp_path, content, expected):
    path = tmp_path / "data.json"
    path.write_text(content)
    with pytest.raises(SFTDataError, match=expected) as error:
        load_sft_data(tmp_path)
    assert str(path) in str(error.value)


def test_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]})
                    + "\n{not json\n")
    with pytest.raises(SFTDataError, match="data.jsonl: line 2: malformed JSON"):
        load_sft_data(path)


def test_cli_stops_on_bad_data_before_training(tmp_path):
    (tmp_path / "data.json").write_text("[]")
    result = CliRunner().invoke(cli, ["sft", "--data", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "no records" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


# -- loss masking --------------------------------------------------------------------------------------------

def test_loss_covers_only_assistant_turns(tmp_path):
    loaded = load_model("tiny-llama")
    examples = load_sft_data(write_gp(tmp_path, 4, multi_turn=True))
    data = EncodedSFTData(loaded, examples, 4096, "test")
    for example, encoded in zip(examples, data.text):
        kept = encoded["input_ids"][encoded["labels"] != -100]
        expected = "".join(m["content"] + loaded.tokenizer.eos_token for m in example.messages if m["role"] == "assistant")
        assert loaded.tokenizer.decode(kept) == expected
        assert sum(m["role"] == "assistant" for m in example.messages) >= 2


def test_loss_on_final_keeps_only_the_last_assistant_turn(tmp_path):
    """loss_on final: earlier attempts of a multi-turn record (wrong on purpose) carry no label."""
    loaded = load_model("tiny-llama")
    examples = load_sft_data(write_gp(tmp_path, 4, multi_turn=True))
    every = EncodedSFTData(loaded, examples, 4096, "test")
    final = EncodedSFTData(loaded, examples, 4096, "test", loss_on="final")
    for example, all_turns, last in zip(examples, every.text, final.text):
        assert torch.equal(all_turns["input_ids"], last["input_ids"])
        kept = last["input_ids"][last["labels"] != -100]
        assert loaded.tokenizer.decode(kept) == example.messages[-1]["content"] + loaded.tokenizer.eos_token
        labelled = (last["labels"] != -100).nonzero().flatten()
        assert labelled.max() == len(last["labels"]) - 1  # the last turn ends the record
        assert torch.equal(last["labels"][labelled], all_turns["labels"][labelled])
    with pytest.raises(ValueError, match="loss_on"):
        EncodedSFTData(loaded, examples, 4096, "test", loss_on="last")


def test_loss_on_final_under_truncation_keeps_no_earlier_turn(tmp_path):
    """A max_length that cuts off the final answer leaves nothing to learn: an error, not an earlier turn."""
    loaded = load_model("tiny-llama")
    examples = load_sft_data(write_gp(tmp_path, 2, multi_turn=True))
    whole = EncodedSFTData(loaded, examples, 4096, "test", loss_on="final")
    first_final = int((whole.text[0]["labels"] != -100).nonzero()[0])
    with pytest.raises(SFTDataError, match="no assistant token within max_length"):
        EncodedSFTData(loaded, examples[:1], first_final, "test", loss_on="final")


# -- training ------------------------------------------------------------------------------------------------

def test_resume_equals_uninterrupted_run(gp_l, tmp_path):
    settings = SFTConfig(max_steps=6, per_device_batch_size=8, save_every=3, log_every=1)
    full = train_sft(settings, model="tiny-llama", data=str(gp_l), output_dir=tmp_path / "full", seed=3)
    assert full.last_loss < full.first_loss
    resumed_dir = tmp_path / "resumed"
    resumed_dir.mkdir()
    os.rename(tmp_path / "full" / "checkpoint-3", resumed_dir / "checkpoint-3")
    resumed = train_sft(settings, model="tiny-llama", data=str(gp_l), output_dir=resumed_dir, seed=3, resume=True)
    assert resumed.steps == 6 and resumed.last_loss == full.last_loss
    a, b = weights(tmp_path / "full" / "final"), weights(resumed_dir / "final")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(line) for line in (resumed_dir / "train_log.jsonl").read_text().splitlines()]
    params = sum(t.numel() for t in a.values())  # tied embeddings are saved once, as counted
    assert [r["step"] for r in log] == [4, 5, 6] and log[-1]["flops"] == 6 * params * log[-1]["tokens"]


def test_checkpoints_are_hf_folders_and_written_atomically(gp_l, tmp_path):
    settings = SFTConfig(max_steps=4, per_device_batch_size=8, save_every=2, save_total_limit=1)
    train_sft(settings, model="tiny-llama", data=str(gp_l), output_dir=tmp_path, seed=0)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["checkpoint-4", "final", "train_log.jsonl"]
    state = json.loads((tmp_path / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["step"] == 4 and state["total_steps"] == 4
    again = load_model(str(tmp_path / "checkpoint-4"))
    final = weights(tmp_path / "final")
    assert all(torch.equal(t, final[k]) for k, t in again.model.state_dict().items() if k in final)


def test_lora_with_merge_writes_a_plain_model(gp_l, tmp_path):
    settings = SFTConfig(max_steps=2, per_device_batch_size=8, lora=True, lora_r=4, merge_lora=True,
                         learning_rate=1e-2)
    train_sft(settings, model="tiny-llama", data=str(gp_l), output_dir=tmp_path, seed=0)
    merged = load_model(str(tmp_path / "final"))
    base = load_model("tiny-llama")
    changed = [k for k, v in merged.model.state_dict().items() if not torch.equal(v, base.model.state_dict()[k])]
    assert changed and not any("lora" in k for k in merged.model.state_dict())


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_vision_model_trains_with_frozen_tower(tmp_path):
    data = write_gp(tmp_path / "vl", 8, "messages", language_only=False)
    settings = SFTConfig(max_steps=2, per_device_batch_size=4, freeze_vision_tower=True, freeze_projector=True)
    train_sft(settings, model="tiny-mllama", data=str(data), output_dir=tmp_path / "out", seed=0)
    after, before = weights(tmp_path / "out" / "final"), weights(Path(load_model("tiny-mllama").path))
    vision = [k for k in before if "vision_model" in k or "multi_modal_projector" in k]
    text = [k for k in before if "language_model" in k and "layers.0." in k]
    assert vision and all(torch.equal(after[k], before[k]) for k in vision)
    assert any(not torch.equal(after[k], before[k]) for k in text)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_deepspeed_zero2_two_cpu_ranks_agree_and_learn(gp_l, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
               str(REPO / "tests" / "helpers" / "sft_rank_weights.py"), str(gp_l), str(tmp_path), "zero2"]
    completed = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"weights_rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["sha256"] == ranks[1]["sha256"]
    assert ranks[0]["last_loss"] < ranks[0]["first_loss"]
    state = json.loads((tmp_path / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["run"]["world_size"] == 2 and state["run"]["deepspeed"].endswith("zero2.json")
    assert (tmp_path / "checkpoint-6" / "state" / "random_states_1.pkl").is_file()


def test_cli_trains_and_reports(gp_l, tmp_path):
    result = CliRunner().invoke(cli, ["sft", "--data", str(gp_l), "--out", str(tmp_path), "--max-steps", "2",
                                      "--batch-size", "8", "--json", "--seed", "1"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 2 and Path(summary["final"], "config.json").is_file()
