"""The study's figures as PNG: success against training GFLOPs per split (Fig 5) and, for GP-VL, card
recognition against success (Fig 8). Needs matplotlib (`pip install 'sftvsrl[plot]'`); without it no figure
is drawn and the caller says so.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

COLOURS = {"init": "black", "sft": "tab:orange", "rl": "tab:blue"}
LABELS = {"init": "Init", "sft": "SFT", "rl": "RL"}


def available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _arm_curve(replicates: list[dict[str, Any]], arm: str, split: str) -> tuple[list, list, list]:
    """Mean over seeds at each checkpoint (checkpoints line up by index): GFLOPs, rate, error bar."""
    xs, ys, errors = [], [], []
    count = min(len(r["points"][arm]) for r in replicates)
    for index in range(count):
        points = [r["points"][arm][index] for r in replicates]
        rates = [p["scores"][split]["rate"] for p in points]
        if any(rate is None for rate in rates):
            continue
        xs.append(sum(p["gflops"] for p in points) / len(points))
        ys.append(100 * sum(rates) / len(rates))
        if len(points) > 1:
            mean = sum(rates) / len(rates)
            spread = (sum((r - mean) ** 2 for r in rates) / (len(rates) - 1)) ** 0.5 / len(rates) ** 0.5
            errors.append(100 * spread)
        else:
            errors.append(100 * (points[0]["scores"][split]["stderr"] or 0.0))
    return xs, ys, errors


def curves(study: dict[str, Any], path: Path) -> Path:
    """One panel per split: Init as a point, the SFT and RL arms as lines, error bars as in the table."""
    plt = _pyplot()
    splits = study["splits"]
    replicates = study["replicates"]
    figure, axes = plt.subplots(1, len(splits), figsize=(4.2 * len(splits), 3.6), squeeze=False)
    for axis, split in zip(axes[0], splits):
        for arm in ("sft", "rl"):
            xs, ys, errors = _arm_curve(replicates, arm, split)
            init_x, init_y, init_e = _arm_curve(replicates, "init", split)
            axis.errorbar(init_x + xs, init_y + ys, yerr=init_e + errors, color=COLOURS[arm], marker="o",
                          markersize=3, capsize=2, label=LABELS[arm])
        init_x, init_y, _ = _arm_curve(replicates, "init", split)
        axis.scatter(init_x, init_y, color=COLOURS["init"], zorder=3, label="Init")
        metric = replicates[0]["points"]["init"][0]["scores"][split]["metric"].replace("_", " ")
        axis.set_title(f"{study['config']['task']} {split}")
        axis.set_xlabel("Training computation (GFLOPs)")
        axis.xaxis.set_major_locator(plt.MaxNLocator(5))
        axis.ticklabel_format(axis="x", style="sci", scilimits=(-3, 4))
        axis.set_ylabel(f"{metric} (%)")
        axis.grid(alpha=0.3)
        low, high = axis.get_ylim()
        axis.set_ylim(max(low, -2.0), max(high, 10.0))
    axes[0][0].legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def recognition(study: dict[str, Any], path: Path) -> Path | None:
    """Fig 8: recognition (y) against success (x), ID red and OOD blue, SFT circles and RL triangles; later
    checkpoints more opaque. None when no evaluation measured recognition."""
    replicates = study["replicates"]
    rows = [(arm, point, split) for r in replicates for arm in ("init", "sft", "rl") for point in r["points"][arm]
            for split, score in point["scores"].items() if score.get("recognition") is not None]
    if not rows:
        return None
    plt = _pyplot()
    top = max(point["gflops"] for _, point, _ in rows) or 1.0
    figure, axis = plt.subplots(figsize=(5, 4))
    markers = {"init": "s", "sft": "o", "rl": "^"}
    for arm, point, split in rows:
        score = point["scores"][split]
        axis.scatter(100 * score["rate"], 100 * score["recognition"], marker=markers[arm],
                     color="tab:red" if split == "id" else "tab:blue", alpha=0.25 + 0.75 * point["gflops"] / top)
    for arm, marker in markers.items():
        axis.scatter([], [], marker=marker, color="grey", label=LABELS[arm])
    axis.set_xlabel("success (%) [red: id, blue: OOD]")
    axis.set_ylabel("card recognition (%)")
    axis.legend()
    axis.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
