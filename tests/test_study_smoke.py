"""`sftvsrl study` end to end at a tiny budget (real gen-data, sft, ppo and eval; minutes on 2 CPU cores).

One study runs as its printed `--plan` commands by hand, then `sftvsrl study` collects it without running
anything; a copy has both arms killed halfway (SIGKILL) and is continued by `sftvsrl study`: the study.json
of the two is identical.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]

PACKAGED = Path(__file__).resolve().parent.parent / "sftvsrl_cli" / "configs"


def _settings(tmp: Path) -> Path:
    rl = yaml.safe_load((PACKAGED / "ppo" / "tiny_gp_l.yaml").read_text())
    rl.update(num_envs=4, num_steps=8)
    rl["ppo_config"].update(mini_batch_size=8, critic_warmup_epochs=1)
    rl["generation_config"]["max_new_tokens"] = 32
    (tmp / "rl.yaml").write_text(yaml.safe_dump(rl))
    (tmp / "sft.yaml").write_text(yaml.safe_dump({"sft_config": {
        "learning_rate": 2e-3, "per_device_batch_size": 8, "gradient_checkpointing": False, "dtype": "fp32"}}))
    study = {"task": "gp-l", "model": "tiny-llama", "data_records": 64, "init_steps": 4, "sft_config": str(tmp / "sft.yaml"),
             "sft_steps": 12, "rl_config": str(tmp / "rl.yaml"), "rl_updates": 2, "checkpoints": 2,
             "eval_episodes": 4, "eval_verify_iter": 1, "eval_max_new_tokens": 32, "eval_batch_size": 8}
    path = tmp / "study.json"
    path.write_text(json.dumps(study))
    return path


def _sftvsrl(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sftvsrl_cli", *args], capture_output=True, text=True, **kwargs)


def _kill_when(argv: list[str], ready: Path) -> None:
    """Start a stage's command and SIGKILL it as soon as `ready` exists (halfway through the stage)."""
    process = subprocess.Popen([sys.executable, "-m", "sftvsrl_cli", *argv], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    while not ready.exists():
        assert process.poll() is None, f"{argv[0]} ended before {ready} appeared"
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_study_by_hand_then_collected_and_resumed_after_kills_are_identical(tmp_path):
    settings = _settings(tmp_path)
    whole = tmp_path / "whole"
    planned = _sftvsrl("study", "-f", str(settings), "--out", str(whole), "--plan", "--json")
    assert planned.returncode == 0, planned.stderr
    stages = json.loads(planned.stdout)["stages"]
    assert [s["kind"] for s in stages] == ["gen-data", "sft", "eval", "sft", "eval", "eval", "ppo", "eval", "eval"]
    for stage in stages:  # the printed commands, run by hand
        done = _sftvsrl(*stage["argv"][1:])
        assert done.returncode == 0, f"{stage['command']}\n{done.stderr[-3000:]}"
    collected = _sftvsrl("study", "-f", str(settings), "--out", str(whole))
    assert collected.returncode == 0, collected.stderr
    assert "9 of 9 stages already finished" in collected.stderr
    assert not (whole / "logs").exists(), "collecting ran no stage"
    study = json.loads((whole / "study.json").read_text())
    init = json.loads((whole / "seed-0" / "init" / "final" / "sft_summary.json").read_text())
    assert study["replicates"][0]["init"]["flops"] == 6.0 * init["num_params"] * init["tokens"]
    assert [p["step"] for p in study["replicates"][0]["points"]["sft"]] == [6, 12]
    assert [p["step"] for p in study["replicates"][0]["points"]["rl"]] == [1, 2]
    for row in study["table"]["rows"].values():
        for cell in row["cells"].values():
            assert 0.0 <= cell["rate"] <= 1.0 and cell["n"] == 4

    resumed = tmp_path / "resumed"
    shutil.copytree(whole, resumed, ignore=shutil.ignore_patterns("sft", "rl", "sft-*", "rl-*", "study.json",
                                                                    "report.md", "figures", "plan.json"))
    by_name = {s["name"]: [a.replace(str(whole), str(resumed)) for a in s["argv"][1:]] for s in stages}
    _kill_when(by_name["seed-0/sft"], resumed / "seed-0" / "sft" / "checkpoint-6" / "trainer_state.json")
    _kill_when(by_name["seed-0/rl"], resumed / "seed-0" / "rl" / "checkpoints" / "update_000001" / "COMPLETE")
    assert not (resumed / "seed-0" / "sft" / "final").exists()
    assert not (resumed / "seed-0" / "rl" / "checkpoints" / "update_000002").exists()
    continued = _sftvsrl("study", "-f", str(settings), "--out", str(resumed))
    assert continued.returncode == 0, continued.stderr
    assert "3 of 9 stages already finished" in continued.stderr
    assert (resumed / "study.json").read_text() == (whole / "study.json").read_text()
