"""Checkpoints: a resumed run equals an uninterrupted one; a half-written checkpoint is never loaded."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from trainers.config import load_config
from trainers.config.schema import ExperimentConfig
from tests.ppo_helpers import TINY_RUN, without_wall_clock
from trainers.ppo.checkpoint import latest_checkpoint
from trainers.ppo.config import PPORunOptions, PPOTrainConfig
from trainers.ppo.run_log import read_log
from trainers.ppo.trainer import train


def _config(out, num_updates: int, resume: bool = False) -> PPOTrainConfig:
    experiment = load_config(ExperimentConfig, "ppo/tiny_gp_l",
                             [*TINY_RUN, f"--num_updates={num_updates}", f"--output_dir={out}", "--save_every=1"])
    return PPOTrainConfig(experiment, PPORunOptions(model="tiny-llama", resume=resume))


def _weights(folder):
    return load_file(str(folder / "policy" / "model.safetensors")), torch.load(folder / "value_head.pt")


def test_resume_gives_same_log_and_weights(tmp_path):
    full, split = tmp_path / "full", tmp_path / "split"
    train(_config(full, 3), "tiny-llama")
    train(_config(split, 2), "tiny-llama")
    (split / "checkpoints" / "update_000002.tmp").mkdir()  # a crashed later save must be ignored
    train(_config(split, 3, resume=True), "tiny-llama")

    assert without_wall_clock(read_log(full / "log.jsonl")) == without_wall_clock(read_log(split / "log.jsonl"))
    assert [r["update"] for r in read_log(split / "log.jsonl")] == [1, 2, 3]
    full_policy, full_head = _weights(latest_checkpoint(full))
    split_policy, split_head = _weights(latest_checkpoint(split))
    assert full_policy.keys() == split_policy.keys()
    for name in full_policy:
        assert torch.equal(full_policy[name], split_policy[name]), name
    for name in full_head:
        assert torch.equal(full_head[name], split_head[name]), name
    state = json.loads((latest_checkpoint(split) / "trainer_state.json").read_text())
    assert state["counters"]["update"] == 3 and state["counters"]["env_steps"] == 12


def test_incomplete_checkpoint_is_not_loaded(tmp_path):
    root = tmp_path / "checkpoints"
    (root / "update_000001").mkdir(parents=True)
    (root / "update_000001" / "COMPLETE").write_text("1\n")
    (root / "update_000002").mkdir()  # renamed but never marked complete
    (root / "update_000003.tmp").mkdir()
    assert latest_checkpoint(tmp_path).name == "update_000001"


def test_existing_run_without_resume_is_refused(tmp_path):
    root = tmp_path / "checkpoints" / "update_000001"
    root.mkdir(parents=True)
    (root / "COMPLETE").write_text("1\n")
    with pytest.raises(ValueError, match="--resume"):
        train(_config(tmp_path, 1), "tiny-llama")
