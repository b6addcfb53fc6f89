"""The paper's result tables from saved evaluation summaries: rows are models (Init, SFT, RL, any labels),
columns the ID split and each OOD split, cells the split's headline metric with its standard error and the
change against a baseline row in percentage points (Fig 6/7 of the paper report OOD changes vs Init).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from envs.errors import DataFileError, InputError
from envs.spec import SUCCESS

SPLIT_ORDER = ("id", "rule-ood", "visual-ood")


def load_summaries(paths: Sequence[str]) -> list[dict[str, Any]]:
    """Summaries from `[LABEL=]PATH` items: a summary.json, an evaluation folder, or a folder of them."""
    summaries = []
    for item in paths:
        label, sep, path_text = item.partition("=")
        if not sep or not label or "/" in label:
            label, path_text = "", item
        path = Path(path_text)
        if path.is_dir() and not (path / "summary.json").is_file():
            found = sorted(p / "summary.json" for p in path.iterdir() if (p / "summary.json").is_file())
            if not found:
                raise FileNotFoundError(f"no summary.json in {path} or its sub-folders")
            files = found
        else:
            files = [path / "summary.json" if path.is_dir() else path]
        for file in files:
            try:
                summary = json.loads(file.read_text(encoding="utf-8"))
            except OSError:
                raise FileNotFoundError(f"cannot read {file}") from None
            except ValueError:
                raise DataFileError(f"{file} is not valid JSON") from None
            if not isinstance(summary, dict) or not isinstance(summary.get("splits"), dict):
                raise DataFileError(f"{file} is not an evaluation summary (no 'splits')")
            summary["label"] = label or summary.get("label") or file.parent.name
            summaries.append(summary)
    return summaries


def _headline(split: dict[str, Any]) -> dict[str, Any] | None:
    metric = split.get("primary_metric", SUCCESS)
    return (split.get("metrics") or {}).get(metric)


def build_report(summaries: Sequence[dict[str, Any]], baseline: str | None = None) -> dict[str, Any]:
    """`{"columns", "baseline", "rows": [{"label", "cells": {split: {metric, rate, stderr, n, delta_pp}}}]}`."""
    labels = [s.get("label") or f"model{i}" for i, s in enumerate(summaries)]
    if len(set(labels)) != len(labels):
        raise InputError(f"report rows need distinct labels, got {', '.join(labels)}")
    baseline = baseline or labels[0]
    if baseline not in labels:
        raise InputError(f"baseline {baseline!r} is not one of the rows ({', '.join(labels)})")
    names: list[str] = []
    for summary in summaries:
        names += [name for name in summary["splits"] if name not in names]
    columns = sorted(names, key=lambda n: (SPLIT_ORDER.index(n) if n in SPLIT_ORDER else len(SPLIT_ORDER), names.index(n)))
    base = summaries[labels.index(baseline)]
    rows = []
    for label, summary in zip(labels, summaries):
        cells = {}
        for name in columns:
            split = summary["splits"].get(name)
            headline = _headline(split) if split else None
            if headline is None or headline.get("rate") is None:
                continue
            base_split = base["splits"].get(name)
            base_headline = _headline(base_split) if base_split else None
            delta = None
            if label != baseline and base_headline and base_headline.get("rate") is not None:
                delta = 100 * (headline["rate"] - base_headline["rate"])
            cells[name] = {"metric": split.get("primary_metric", SUCCESS), "rate": headline["rate"],
                           "stderr": headline["stderr"], "n": headline["n"], "delta_pp": delta}
        rows.append({"label": label, "cells": cells})
    return {"columns": columns, "baseline": baseline, "rows": rows, "warnings": comparability_warnings(labels, summaries, columns)}


def comparability_warnings(labels: Sequence[str], summaries: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[str]:
    """One line per split whose rows were evaluated on different numbers of episodes or different seeds."""
    warnings = []
    for name in columns:
        for key, what in (("num_traj", "numbers of episodes"), ("seed", "seeds")):
            values = {label: summary["splits"][name].get(key) for label, summary in zip(labels, summaries)
                      if isinstance(summary["splits"].get(name), dict)}
            if len(set(map(str, values.values()))) > 1:
                listed = ", ".join(f"{label}: {value}" for label, value in values.items())
                warnings.append(f"{name}: rows were evaluated on different {what} ({listed}); "
                                f"their differences mix that in")
    return warnings


def format_cell(cell: dict[str, Any] | None) -> str:
    if not cell:
        return "-"
    text = f"{100 * cell['rate']:.1f} ± {100 * cell['stderr']:.1f}"
    if cell.get("delta_pp") is not None:
        text += f" ({cell['delta_pp']:+.1f})"
    return text


def table_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["model"] + [f"{name} %" for name in report["columns"]]
    rows = [[row["label"]] + [format_cell(row["cells"].get(name)) for name in report["columns"]] for row in report["rows"]]
    return header, rows


def to_markdown(report: dict[str, Any]) -> str:
    header, rows = table_rows(report)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    note = (f"Cells: headline metric in % ± binomial standard error; in parentheses the change against "
            f"{report['baseline']} in percentage points.")
    warnings = "".join(f"\nWarning: {line}\n" for line in report.get("warnings") or [])
    return "\n".join(lines) + "\n\n" + note + "\n" + warnings


def render_report(output, report: dict[str, Any], json_: bool, markdown: bool) -> None:
    """Print a report as JSON, Markdown, or a table (rich on a TTY)."""
    for line in report.get("warnings") or []:
        output.info(f"warning: {line}")
    if json_:
        output.result_json(report)
    elif markdown:
        import sys

        sys.stdout.write(to_markdown(report))
    else:
        header, rows = table_rows(report)
        output.table(f"success ± s.e. (Δ pp vs {report['baseline']})", header, rows)
