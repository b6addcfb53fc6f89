"""Success against training compute from training logs (the paper's Fig 5): ID and OOD curves per run.

A training log is a JSON-lines file, one record per update (or per evaluation). Compute is read from the
first key present among `COMPUTE_KEYS` (FLOPs are shown as GFLOPs, as the paper's x-axis); split metrics from
keys `eval/<split>/<metric>` (`evaluators.splits.metric_log_key`), e.g. `eval/rule-ood/success`. Needs
matplotlib (the `plot` extra).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

COMPUTE_KEYS = ("compute_gflops", "gflops", "compute_flops", "flops", "train_flops", "total_flops")


def read_log(path: Path) -> list[dict[str, Any]]:
    records = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                if handle.read(1) == "":
                    break  # a torn last line of a log still being written
                raise ValueError(f"{path}:{number}: not a JSON record") from None
            if isinstance(record, dict):
                records.append(record)
    return records


def curves(records: Sequence[dict[str, Any]], metric: str = "success") -> tuple[str, dict[str, list[tuple[float, float]]]]:
    """(x label, {split: [(gflops, percent), ...]}) from one log's records."""
    key = next((k for k in COMPUTE_KEYS if any(k in r for r in records)), None)
    if key is None:
        raise ValueError(f"the log has no compute column (one of {', '.join(COMPUTE_KEYS)})")
    scale = 1.0 if "gflops" in key else 1e-9
    series: dict[str, list[tuple[float, float]]] = {}
    for record in records:
        if key not in record:
            continue
        for name, value in record.items():
            parts = name.split("/")
            if len(parts) == 3 and parts[0] == "eval" and parts[2] == metric and isinstance(value, (int, float)):
                series.setdefault(parts[1], []).append((float(record[key]) * scale, 100.0 * float(value)))
    if not series:
        raise ValueError(f"the log has no eval/<split>/{metric} values")
    return "Training Computation (GFLOPs)", series


def plot_logs(logs: Sequence[tuple[str, Path]], out: Path, metric: str = "success") -> Path:
    """Write a PNG with one panel per split kind (ID, OOD...), one curve per run label."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("plotting needs matplotlib: pip install 'sftvsrl[plot]'") from None
    data = [(label, *curves(read_log(path), metric)) for label, path in logs]
    splits: list[str] = []
    for _, _, series in data:
        splits += [s for s in series if s not in splits]
    figure, axes = plt.subplots(1, len(splits), figsize=(4.5 * len(splits), 3.6), squeeze=False)
    for axis, split in zip(axes[0], splits):
        for label, x_label, series in data:
            if split in series:
                xs, ys = zip(*sorted(series[split]))
                axis.plot(xs, ys, marker="o", markersize=3, label=label)
        axis.set_title("In distribution" if split == "id" else split)
        axis.set_xlabel(x_label)
        axis.set_ylabel(f"{metric.replace('_', ' ')} (%)")
        axis.grid(alpha=0.3)
        axis.legend()
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out
