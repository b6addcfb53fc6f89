"""Checkpoints on the paper's compute axis (section 5.4) and the equal-compute comparison.

With N the model's parameters and D_init the tokens the Init was trained on:

- Init:            X_init = 6 N D_init (from `init/final/sft_summary.json`)
- SFT checkpoint:  X_SFT  = 6 N (D_init + D_SFT), D_SFT the tokens the arm trained on up to that checkpoint
                   (`checkpoint-<step>/trainer_state.json`: `tokens`, every non-padding token of every batch)
- RL checkpoint:   X_RL   = 6 N (D_init + D_RL) + 2 N D_buffer, D_RL the tokens of the PPO epochs and D_buffer
                   those of the rollouts up to that update (`checkpoints/update_<N>/trainer_state.json`,
                   the trainer's compute ledger; trainers/ppo/compute.py)

Equal compute: X* = the largest compute both arms reach, min(max X_SFT, max X_RL). Each arm is compared at
its checkpoint nearest to X* (the lower one on a tie); the result records both checkpoints' compute and their
relative distance to X*, so a coarse checkpoint grid shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from envs.errors import InputError


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def init_compute(init_dir: Path) -> dict[str, Any]:
    """N, D_init and X_init of an Init trained by `sftvsrl sft` into `init_dir`."""
    summary = _json(Path(init_dir) / "final" / "sft_summary.json")
    params, tokens = int(summary["num_params"]), int(summary["tokens"])
    return {"parameters": params, "tokens": tokens, "flops": 6.0 * params * tokens}


def sft_compute(init: dict[str, Any], checkpoint: Path) -> dict[str, Any]:
    """X_SFT of an SFT-arm checkpoint: 6 N (D_init + D_SFT)."""
    state = _json(Path(checkpoint) / "trainer_state.json")
    tokens = int(state["tokens"])
    params = int(state.get("run", {}).get("num_params", init["parameters"]))
    _same_model(init, params, checkpoint)
    return {"tokens_train": tokens, "flops": 6.0 * params * (init["tokens"] + tokens)}


def rl_compute(init: dict[str, Any], checkpoint: Path) -> dict[str, Any]:
    """X_RL of a PPO checkpoint: 6 N (D_init + D_RL) + 2 N D_buffer."""
    ledger = _json(Path(checkpoint) / "trainer_state.json")["compute"]
    params, train, buffer = int(ledger["parameters"]), int(ledger["train_tokens"]), int(ledger["buffer_tokens"])
    _same_model(init, params, checkpoint)
    return {"tokens_train": train, "tokens_buffer": buffer,
            "flops": 6.0 * params * (init["tokens"] + train) + 2.0 * params * buffer}


def _same_model(init: dict[str, Any], params: int, where: Path) -> None:
    if params != init["parameters"]:
        raise InputError(f"{where} counts {params} parameters, the Init {init['parameters']}: not the same model")


def equal_compute(sft: list[dict[str, Any]], rl: list[dict[str, Any]]) -> dict[str, Any]:
    """The two checkpoints compared at equal compute. `sft`, `rl`: points with a `flops` key, any order."""
    if not sft or not rl:
        raise ValueError("equal compute needs at least one checkpoint on each arm")
    target = min(max(p["flops"] for p in sft), max(p["flops"] for p in rl))

    def nearest(points: list[dict[str, Any]]) -> int:
        return min(range(len(points)), key=lambda i: (abs(points[i]["flops"] - target), points[i]["flops"]))

    chosen = {"sft": nearest(sft), "rl": nearest(rl)}
    result: dict[str, Any] = {"target_flops": target}
    for arm, points in (("sft", sft), ("rl", rl)):
        flops = points[chosen[arm]]["flops"]
        result[arm] = {"index": chosen[arm], "step": points[chosen[arm]].get("step"), "flops": flops,
                       "relative_gap": (flops - target) / target if target else 0.0}
    return result
