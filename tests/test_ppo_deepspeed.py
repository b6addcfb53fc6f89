"""Two ranks of DeepSpeed ZeRO-2 on the CPU (gloo) run one PPO update through the CLI and stay in sync."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.ppo_helpers import TINY_RUN
from trainers.ppo.checkpoint import latest_checkpoint
from trainers.ppo.run_log import read_log

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_two_rank_zero2_update(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "SFTVSRL_CACHE_DIR":
           os.environ.get("SFTVSRL_CACHE_DIR", str(Path.home() / ".cache" / "sftvsrl"))}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
               "-m", "sftvsrl_cli", "ppo", "--model", "tiny-llama", "--deepspeed", "zero2", "--out", str(out),
               *TINY_RUN, "--num_updates=1"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]

    records = read_log(out / "log.jsonl")
    assert len(records) == 1
    record = records[0]
    assert record["world_size"] == 2
    assert record["env_steps"] == 8  # 4 env steps per rank, gathered from both
    assert record["optimizer_steps"] >= 1
    checkpoint = latest_checkpoint(out)
    assert checkpoint is not None and (checkpoint / "deepspeed").is_dir()
    ranks = [torch.load(checkpoint / f"rng_rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0]["param_checksum"] == ranks[1]["param_checksum"]
    # Each rank draws its own episodes.
    workers = [json.loads((checkpoint / f"episodes_rank{r}.json").read_text()) for r in (0, 1)]
    assert workers[0]["seed_stream"] != workers[1]["seed_stream"]
