"""bench/gpu_check.sh --cpu-smoke: the GPU check's whole path (model from a config, SFT and PPO steps under
ZeRO-2 with and without offload, rollout speed) runs on a CPU, so it is known to work before a GPU runs it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_cpu_smoke_prints_every_figure(tmp_path):
    result = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--cpu-smoke", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=540, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    checks = [row["check"] for row in report["rows"]]
    assert checks == ["SFT step, ZeRO-2", "PPO update, ZeRO-2", "SFT step, ZeRO-2 + offload",
                      "PPO update, ZeRO-2 + offload", "rollout, batched (generation only)",
                      "rollout, one at a time (generation only)"]
    assert all(row["tokens_per_s"] > 0 for row in report["rows"])
    for check in checks:
        assert check in result.stdout  # the printed table
    assert (tmp_path / "ppo_offload" / "log.jsonl").is_file()
