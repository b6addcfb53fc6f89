"""The per-update log: one JSON line per update in `<output_dir>/log.jsonl`, plus optional wandb/tensorboard
through `trainers.tracking` (same metric names as the log).

Only rank 0 writes. On resume the log is cut back to the checkpoint's update, so a resumed run's log equals
an uninterrupted one's (apart from wall-clock fields).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from trainers.tracking import Tracker, open_tracker

WALL_CLOCK_KEYS = ("wall_time", "update_seconds", "rollout_seconds", "env_steps_per_second", "tokens_per_second")


# Measured on the policy that collected the rollout when every mini-batch ran before the update's only
# optimizer step (one mini-batch per update, or all of them accumulated into one step): the ratio is 1 by
# construction, so these read as exact zeros that say nothing about the update.
PRE_STEP_KEYS = ("policy_loss", "approx_kl", "clip_fraction")


def unmeasured_as_none(record: dict[str, Any]) -> dict[str, Any]:
    """`record` with PRE_STEP_KEYS set to None when the update measured them only before its one step."""
    steps = record.get("optimizer_steps")
    if steps is not None and steps <= 1 and not record.get("approx_kl") and not record.get("clip_fraction"):
        return {**record, **{key: None for key in PRE_STEP_KEYS}}
    return record


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunLog:
    def __init__(self, output_dir: str | Path, report_to: str = "none", run_name: str | None = None,
                 config: dict[str, Any] | None = None, enabled: bool = True):
        self.path = Path(output_dir) / "log.jsonl"
        self.enabled = enabled
        self._tracker = Tracker()
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tracker = open_tracker(report_to, self.path.parent, run_name=run_name, config=config)

    def truncate_after(self, update: int) -> None:
        """Drop lines of updates later than `update` (a resumed run rewrites them)."""
        if not self.enabled or not self.path.is_file():
            return
        kept = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                if json.loads(line).get("update", 0) <= update:
                    kept.append(line)
            except json.JSONDecodeError:
                break  # a torn last line from a crash: drop it and everything after
        temporary = self.path.with_suffix(".jsonl.tmp")
        temporary.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(temporary, self.path)

    def write(self, record: dict[str, Any]) -> None:
        if not self.enabled:
            return
        record = {key: _clean(value) for key, value in record.items()}
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        self._tracker.log(record, step=int(record.get("update", 0)))

    def close(self) -> None:
        self._tracker.close()


def read_log(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
