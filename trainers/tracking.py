"""One experiment-tracking layer for every trainer (SFT, PPO, the study): wandb, tensorboard or none.

`open_tracker(report_to, output_dir, ...)` returns a `Tracker` whose `log(record, step)` sends the numeric
fields of a log record, under the same names as the run's JSON-lines log, to every chosen backend:

- `wandb`: project `$WANDB_PROJECT`, else `sftvsrl`; files under `$WANDB_DIR`, else the run's output folder;
- `tensorboard`: event files in `<output_dir>/tensorboard` (`torch.utils.tensorboard`);
- `none` (or nothing): no tracker; the JSON-lines log is always written by the trainer itself.

wandb and tensorboard are optional (`pip install 'sftvsrl[tracking]'`); asking for a missing one is an
`InputError` naming the package. Only the main process should track (`enabled=False` elsewhere).
"""

from __future__ import annotations

import importlib
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from envs.errors import InputError

BACKENDS = ("none", "wandb", "tensorboard")
DEFAULT_PROJECT = "sftvsrl"


def parse_report_to(report_to: str | Sequence[str] | None) -> list[str]:
    """`"wandb,tensorboard"`, `["wandb"]`, `"none"` or None -> the backends to use (no duplicates)."""
    if report_to is None:
        return []
    items: Iterable[str] = report_to.split(",") if isinstance(report_to, str) else report_to
    names: list[str] = []
    for item in items:
        name = str(item).strip().lower()
        if not name:
            continue
        if name not in BACKENDS:
            raise InputError(f"report_to must be one of {', '.join(BACKENDS)}, got {item!r}")
        if name != "none" and name not in names:
            names.append(name)
    return names


def numeric_fields(record: Mapping[str, Any]) -> dict[str, float | int]:
    """The finite int/float fields of a log record (booleans, text and missing values are left out)."""
    return {key: value for key, value in record.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)}


class _Wandb:
    def __init__(self, output_dir: Path, run_name: str | None, config: Mapping[str, Any] | None,
                 project: str) -> None:
        wandb = _require("wandb", "wandb")
        directory = os.environ.get("WANDB_DIR") or str(output_dir)
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._run = wandb.init(project=os.environ.get("WANDB_PROJECT") or project, dir=directory, name=run_name,
                               config=dict(config or {}))

    def log(self, metrics: dict[str, float | int], step: int) -> None:
        self._run.log(metrics, step=step)

    def close(self) -> None:
        self._run.finish()


class _Tensorboard:
    def __init__(self, output_dir: Path) -> None:
        module = _require("torch.utils.tensorboard", "tensorboard")
        self._writer = module.SummaryWriter(log_dir=str(output_dir / "tensorboard"))

    def log(self, metrics: dict[str, float | int], step: int) -> None:
        for key, value in metrics.items():
            self._writer.add_scalar(key, value, step)

    def close(self) -> None:
        self._writer.close()


def _require(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"report_to {package} needs the {package} package: pip install 'sftvsrl[tracking]'") from None


class Tracker:
    """Sends records to the chosen backends; a tracker with none does nothing."""

    def __init__(self, backends: Sequence[Any] = ()) -> None:
        self._backends = list(backends)

    @property
    def active(self) -> bool:
        return bool(self._backends)

    def log(self, record: Mapping[str, Any], step: int) -> None:
        metrics = numeric_fields(record)
        if metrics:
            for backend in self._backends:
                backend.log(metrics, step)

    def close(self) -> None:
        backends, self._backends = self._backends, []
        for backend in backends:
            backend.close()


def open_tracker(report_to: str | Sequence[str] | None, output_dir: str | Path, *, run_name: str | None = None,
                 config: Mapping[str, Any] | None = None, project: str = DEFAULT_PROJECT,
                 enabled: bool = True) -> Tracker:
    """A tracker logging to `report_to`'s backends (see the module docstring); a no-op one when disabled."""
    names = parse_report_to(report_to)
    if not enabled or not names:
        return Tracker()
    output_dir = Path(output_dir)
    backends: list[Any] = []
    try:
        for name in names:
            backends.append(_Wandb(output_dir, run_name, config, project) if name == "wandb"
                            else _Tensorboard(output_dir))
    except BaseException:
        Tracker(backends).close()
        raise
    return Tracker(backends)


def check_backends(report_to: str | Sequence[str] | None) -> None:
    """Fail early (InputError) when a chosen backend's package is not installed."""
    import importlib.util

    for name in parse_report_to(report_to):
        module = "tensorboard" if name == "tensorboard" else "wandb"
        if importlib.util.find_spec(module) is None:
            raise InputError(f"report_to {name} needs the {module} package: pip install 'sftvsrl[tracking]'")
