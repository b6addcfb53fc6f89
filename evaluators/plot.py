"""Success against training compute from training logs (the paper's Fig 5): ID and OOD curves per run.

A training log is a JSON-lines file, one record per update (or per evaluation). Compute is read from the
first key present among `COMPUTE_KEYS` (FLOPs are shown as GFLOPs, as the paper's x-axis); split metrics from
keys `eval/<split>/<metric>` (`evaluators.splits.metric_log_key`), e.g. `eval/rule-ood/success`. Needs
matplotlib (the `plot` extra).

Every arm's x-axis counts the compute of its initialisation (the paper's X = 6N(D_init + D_RL) + ...): a PPO
log whose first record does not already include it (`compute_flops` equal to that update's own
`flops_train + flops_rollout`) and whose run folder's `config.yaml` names a model folder holding
`sft_summary.json` (`sftvsrl sft`'s final/), `trainer_state.json` (one of its checkpoints) or `init.json`
(the built-in init) is shifted by that SFT's FLOPs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from envs.errors import DataFileError

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
                raise DataFileError(f"{path}:{number}: not a JSON record") from None
            if isinstance(record, dict):
                records.append(record)
    return records


def curves(records: Sequence[dict[str, Any]], metric: str = "success",
           offset_gflops: float = 0.0) -> tuple[str, dict[str, list[tuple[float, float]]]]:
    """(x label, {split: [(gflops + offset_gflops, percent), ...]}) from one log's records."""
    key = next((k for k in COMPUTE_KEYS if any(k in r for r in records)), None)
    if key is None:
        raise DataFileError(f"the log has no compute column (one of {', '.join(COMPUTE_KEYS)})")
    scale = 1.0 if "gflops" in key else 1e-9
    series: dict[str, list[tuple[float, float]]] = {}
    for record in records:
        if key not in record:
            continue
        for name, value in record.items():
            parts = name.split("/")
            if len(parts) == 3 and parts[0] == "eval" and parts[2] == metric and isinstance(value, (int, float)):
                point = (float(record[key]) * scale + offset_gflops, 100.0 * float(value))
                series.setdefault(parts[1], []).append(point)
    if not series:
        raise DataFileError(f"the log has no eval/<split>/{metric} values (a PPO run logs them with --eval-every K)")
    return "Training Computation (GFLOPs)", series


def init_gflops(log_path: Path, records: Sequence[dict[str, Any]]) -> tuple[float, Path | None]:
    """GFLOPs of the run's initialisation that its log does not count yet, and the file they come from."""
    first = next((r for r in records if "compute_flops" in r), None)
    if first is not None and {"flops_train", "flops_rollout"} <= set(first):
        already = float(first["compute_flops"]) - float(first["flops_train"]) - float(first["flops_rollout"])
        if already > 0:
            return 0.0, None
    model = _run_model(log_path.parent / "config.yaml")
    if model is None:
        return 0.0, None
    for name, key in (("sft_summary.json", "flops"), ("trainer_state.json", "flops"), ("init.json", "train_flops")):
        candidate = Path(model).expanduser() / name
        if candidate.is_file():
            try:
                flops = float(json.loads(candidate.read_text(encoding="utf-8"))[key])
            except (OSError, ValueError, KeyError, TypeError):
                raise DataFileError(f"{candidate}: no readable '{key}' (the FLOPs of the run's initialisation)") from None
            return flops / 1e9, candidate
    return 0.0, None


def _run_model(config_path: Path) -> str | None:
    """The model a training run started from, from its config.yaml (PPO: ppo_run.model, else model_path)."""
    if not config_path.is_file():
        return None
    import yaml

    try:
        data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    if not isinstance(data, dict):
        return None
    run = data.get("ppo_run") if isinstance(data.get("ppo_run"), dict) else {}
    model = run.get("model") or data.get("model_path")
    return str(model) if model else None


def log_curves(path: Path, metric: str = "success") -> tuple[str, dict[str, list[tuple[float, float]]]]:
    """`curves` of one log file, with its init's compute added; errors name the file."""
    try:
        records = read_log(path)
    except OSError as error:
        raise DataFileError(f"cannot read training log {path} ({error.strerror or error})") from None
    try:
        offset, _ = init_gflops(path, records)
        return curves(records, metric, offset)
    except ValueError as error:
        raise DataFileError(f"{path}: {error}") from None


def plot_logs(logs: Sequence[tuple[str, Path]], out: Path, metric: str = "success") -> Path:
    """Write a PNG with one panel per split kind (ID, OOD...), one curve per run label."""
    data = [(label, *log_curves(Path(path), metric)) for label, path in logs]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("plotting needs matplotlib: pip install 'sftvsrl[plot]'") from None
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
