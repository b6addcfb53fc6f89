"""The per-update log: one JSON line per update in `<output_dir>/log.jsonl`, plus optional wandb/tensorboard.

Only rank 0 writes. On resume the log is cut back to the checkpoint's update, so a resumed run's log equals
an uninterrupted one's (apart from wall-clock fields).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

WALL_CLOCK_KEYS = ("wall_time", "update_seconds", "rollout_seconds", "env_steps_per_second", "tokens_per_second")


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunLog:
    def __init__(self, output_dir: str | Path, report_to: str = "none", run_name: str | None = None,
                 config: dict[str, Any] | None = None, enabled: bool = True):
        self.path = Path(output_dir) / "log.jsonl"
        self.enabled = enabled
        self._wandb = self._tensorboard = None
        if not enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if report_to == "wandb":
            try:
                import wandb
            except ImportError:
                raise ValueError("report_to=wandb needs wandb: pip install 'sftvsrl[tracking]'") from None
            self._wandb = wandb.init(name=run_name, config=config, dir=str(self.path.parent))
        elif report_to == "tensorboard":
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise ValueError("report_to=tensorboard needs tensorboard: pip install 'sftvsrl[tracking]'") from None
            self._tensorboard = SummaryWriter(log_dir=str(self.path.parent / "tensorboard"))

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
        numeric = {k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        step = int(record.get("update", 0))
        if self._wandb is not None:
            self._wandb.log(numeric, step=step)
        if self._tensorboard is not None:
            for key, value in numeric.items():
                self._tensorboard.add_scalar(key, value, step)

    def close(self) -> None:
        if self._wandb is not None:
            self._wandb.finish()
        if self._tensorboard is not None:
            self._tensorboard.close()


def read_log(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
