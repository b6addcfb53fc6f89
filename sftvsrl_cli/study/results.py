"""Collect a finished study: every checkpoint's compute and scores, the equal-compute table, study.json, report.md.

Table cells (Fig 6/7): the split's headline metric (GP: episode success; V-IRL id/rule-ood: per-step
accuracy; V-IRL visual-ood: route success) of Init, SFT and RL, the arms at equal compute (compute.py), with
the change against Init. One seed: the binomial standard error sqrt(p(1-p)/n) of each rate, and for a change
sqrt(se_a^2 + se_b^2) (conservative: both are measured on the same episodes). Several seeds: the mean over
seeds with the standard error of that mean (sample standard deviation / sqrt(seeds)), the change taken per
seed against that seed's Init.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

from sftvsrl_cli.study.compute import equal_compute, init_compute, rl_compute, sft_compute
from sftvsrl_cli.study.config import StudyConfig
from sftvsrl_cli.study.plan import Stage

FORMAT_VERSION = 1
ROWS = ("init", "sft", "rl")
ROW_LABELS = {"init": "Init", "sft": "SFT", "rl": "RL"}
EQUAL_COMPUTE = ("X* = min(largest X_SFT, largest X_RL): the largest compute both arms reach; each arm is "
                 "compared at its checkpoint nearest to X* (the lower on a tie)")


def _relative(path: str, out: Path) -> str:
    return Path(path).relative_to(out).as_posix() if Path(path).is_relative_to(out) else path


def _scores(summary: dict[str, Any], splits: list[str]) -> dict[str, Any]:
    scores = {}
    for name in splits:
        split = summary["splits"][name]
        metric = split.get("primary_metric", "success")
        value = split["metrics"].get(metric) or {"rate": None, "stderr": None, "n": 0}
        entry = {"metric": metric, "rate": value["rate"], "stderr": value["stderr"], "n": value["n"]}
        recognition = split["metrics"].get("recognition")
        if recognition is not None:
            entry["recognition"] = recognition["rate"]
        scores[name] = entry
    return scores


def collect_seed(stages: list[Stage], seed: int, out: Path, splits: list[str]) -> dict[str, Any]:
    """Every evaluated checkpoint of one replicate, its compute and the equal-compute choice."""
    root = out / f"seed-{seed}"
    init = init_compute(root / "init")
    points: dict[str, list[dict[str, Any]]] = {arm: [] for arm in ROWS}
    for stage in (s for s in stages if s.kind == "eval" and s.seed == seed):
        arm, step = stage.point["arm"], stage.point["step"]
        if arm == "init":
            compute = {"flops": init["flops"]}
        elif arm == "sft":
            compute = sft_compute(init, root / "sft" / f"checkpoint-{step}")
        else:  # rl and the verification-iterations arms rl-viter<V>
            compute = rl_compute(init, root / arm / "checkpoints" / f"update_{step:06d}")
        summary = json.loads((Path(stage.out) / "summary.json").read_text(encoding="utf-8"))
        points.setdefault(arm, []).append({
            "step": step, **compute, "gflops": compute["flops"] / 1e9, "model": _relative(stage.point["model"], out),
            "eval": _relative(stage.out, out), "scores": _scores(summary, splits)})
    matched = equal_compute(points["sft"], points["rl"])
    at_equal = {"init": points["init"][0], "sft": points["sft"][matched["sft"]["index"]],
                "rl": points["rl"][matched["rl"]["index"]]}
    replicate = {"seed": seed, "init": init, "points": points, "equal_compute": matched,
                 "table": {row: at_equal[row]["scores"] for row in ROWS},
                 "table_gflops": {row: at_equal[row]["gflops"] for row in ROWS}}
    ablation = [arm for arm in points if arm not in ROWS]
    if ablation:
        replicate["ablation"] = _ablation_seed(points, ablation)
    return replicate


def _ablation_seed(points: dict[str, list[dict[str, Any]]], arms: list[str]) -> dict[str, Any]:
    """The verification-iterations arms at their own equal compute: the largest compute all of them reach,
    each at its checkpoint nearest to it (as for SFT vs RL)."""
    target = min(max(p["flops"] for p in points[arm]) for arm in arms)
    chosen = {}
    for arm in arms:
        index = min(range(len(points[arm])),
                    key=lambda i: (abs(points[arm][i]["flops"] - target), points[arm][i]["flops"]))
        chosen[arm] = {"step": points[arm][index]["step"], "flops": points[arm][index]["flops"],
                       "gflops": points[arm][index]["gflops"], "scores": points[arm][index]["scores"]}
    return {"target_flops": target, "arms": chosen}


def _mean_se(values: list[float]) -> tuple[float, float | None]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None)


def build_table(replicates: list[dict[str, Any]], splits: list[str]) -> dict[str, Any]:
    """Rows Init / SFT / RL, one cell per split: rate, stderr, delta vs Init and its stderr (fractions)."""
    rows = {}
    for row in ROWS:
        rows[row] = {"label": ROW_LABELS[row], "gflops": statistics.fmean(r["table_gflops"][row] for r in replicates),
                     "cells": _cells(replicates, row, splits)}
    return {"seeds": len(replicates), "error": "across seeds" if len(replicates) > 1 else "binomial", "rows": rows}


def _cells(replicates: list[dict[str, Any]], row: str, splits: list[str]) -> dict[str, Any]:
    """One row's cells: rate, stderr, change against the replicates' Init rows and its stderr."""
    several = len(replicates) > 1
    cells = {}
    for name in splits:
        cell_list = [r["table"][row][name] for r in replicates]
        init_list = [r["table"]["init"][name] for r in replicates]
        if any(c["rate"] is None for c in cell_list + init_list):
            cells[name] = {"metric": cell_list[0]["metric"], "rate": None}
            continue
        if several:
            rate, stderr = _mean_se([c["rate"] for c in cell_list])
            delta, delta_se = _mean_se([c["rate"] - i["rate"] for c, i in zip(cell_list, init_list)])
        else:
            (cell,), (init,) = cell_list, init_list
            rate, stderr, delta = cell["rate"], cell["stderr"], cell["rate"] - init["rate"]
            delta_se = math.sqrt(cell["stderr"] ** 2 + init["stderr"] ** 2)
        cells[name] = {"metric": cell_list[0]["metric"], "rate": rate, "stderr": stderr,
                       "delta": None if row == "init" else delta, "delta_stderr": None if row == "init" else delta_se,
                       "n": cell_list[0]["n"]}
    return cells


def build_ablation_table(replicates: list[dict[str, Any]], splits: list[str]) -> list[dict[str, Any]]:
    """Fig 10: per verification-iteration count, the change against Init on every split at equal compute."""
    if "ablation" not in replicates[0]:
        return []
    rows = []
    for arm in replicates[0]["ablation"]["arms"]:
        as_rows = [{"table": {"init": r["table"]["init"], "arm": r["ablation"]["arms"][arm]["scores"]},
                    "table_gflops": {"init": 0.0, "arm": r["ablation"]["arms"][arm]["gflops"]}} for r in replicates]
        cells = _cells(as_rows, "arm", splits)
        rows.append({"arm": arm, "verify_iter": int(arm.removeprefix("rl-viter")),
                     "gflops": statistics.fmean(r["table_gflops"]["arm"] for r in as_rows), "cells": cells})
    return rows


def build_study(config: StudyConfig, stages: list[Stage], out: Path, splits: list[str]) -> dict[str, Any]:
    seeds = sorted({stage.seed for stage in stages})
    replicates = [collect_seed(stages, seed, out, splits) for seed in seeds]
    study = {"format_version": FORMAT_VERSION, "config": config.as_dict(), "splits": splits,
             "equal_compute": EQUAL_COMPUTE, "table": build_table(replicates, splits), "replicates": replicates}
    ablation = build_ablation_table(replicates, splits)
    if ablation:
        study["verify_iters_ablation"] = ablation
    return study


def write_json(path: Path, payload: Any) -> None:
    from envs.sft_records import atomic_write_text

    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}"


def format_cell(cell: dict[str, Any]) -> str:
    if cell.get("rate") is None:
        return "-"
    text = _pct(cell["rate"]) + ("" if cell["stderr"] is None else f" ± {_pct(cell['stderr'])}")
    if cell.get("delta") is not None:
        sign = "+" if cell["delta"] >= 0 else ""
        text += f" ({sign}{_pct(cell['delta'])}" + ("" if cell["delta_stderr"] is None else
                                                    f" ± {_pct(cell['delta_stderr'])}") + ")"
    return text


def table_rows(study: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    splits = study["splits"]
    columns = ["", "GFLOPs", *[f"{name} %" for name in splits]]
    rows = [[row["label"], f"{row['gflops']:.4g}", *[format_cell(row["cells"][n]) for n in splits]]
            for row in study["table"]["rows"].values()]
    return columns, rows
