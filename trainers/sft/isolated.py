"""`train_sft` in a child process: how the project builds its built-in models' SFT stages (the PPO's tiny
init, tiny-llama-base's pre-training) without side effects on the command that asked for them.

Those builds run lazily, inside whichever command first needs them, possibly one rank of a multi-process PPO
run. In that process `train_sft` would join the launcher's process group (the other ranks wait on the build's
file lock: a deadlock), reseed the command's global generators through `set_seed`, and train on whatever GPU
is there. The child sees no launcher variables and no GPU and runs on one CPU thread, so a build gives the
same weights wherever, and by whichever process, it runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

_LAUNCHER_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "ROLE_RANK",
                       "MASTER_ADDR", "MASTER_PORT")


def train_sft_isolated(job: dict[str, Any]) -> dict[str, Any]:
    """`train_sft` in a child Python process (see the module docstring); returns its losses, tokens and FLOPs.
    `job`: the SFTConfig's fields as "sft", and "model", "data", "output_dir", "seed"."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in _LAUNCHER_VARIABLES and not k.startswith("ACCELERATE_")}
    env.update(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    result_file = Path(job["output_dir"]).parent / "sft_result.json"
    job = {**job, "result_file": str(result_file)}
    code = "import sys; from trainers.sft.isolated import _train_child; _train_child(sys.argv[1])"
    finished = subprocess.run([sys.executable, "-c", code, json.dumps(job)], env=env, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"SFT of a built-in model failed (exit {finished.returncode}; its traceback is "
                           "above); running the command again rebuilds it")
    result = json.loads(result_file.read_text(encoding="utf-8"))
    result_file.unlink()
    return result


def _train_child(job_json: str) -> None:
    """The child's side of `train_sft_isolated`."""
    import torch

    from trainers.config.schema import SFTConfig
    from trainers.sft.train import train_sft

    job = json.loads(job_json)
    torch.set_num_threads(1)  # a tiny model on a small CPU: see PPORunOptions.cpu_threads
    result = train_sft(SFTConfig(**job["sft"]), model=job["model"], data=job["data"], output_dir=job["output_dir"],
                       seed=job["seed"])
    summary = {"first_loss": result.first_loss, "last_loss": result.last_loss, "tokens": result.tokens,
               "flops": result.flops, "steps": result.steps}
    Path(job["result_file"]).write_text(json.dumps(summary) + "\n", encoding="utf-8")
