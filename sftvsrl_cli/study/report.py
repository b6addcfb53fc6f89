"""report.md of a study: the equal-compute table, how the arms were matched, every checkpoint's scores, figures."""

from __future__ import annotations

from typing import Any

from sftvsrl_cli.study.results import ROW_LABELS, format_cell, table_rows


def _markdown_table(columns: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def render(study: dict[str, Any], figures: dict[str, str], figure_note: str | None) -> str:
    config, table = study["config"], study["table"]
    error = ("mean ± standard error over seeds" if table["error"] == "across seeds"
             else "rate ± binomial standard error sqrt(p(1-p)/n)")
    lines = [f"# SFT vs RL study: {config['task']}, {config['model']}", "",
             f"{table['seeds']} seed(s) from {config['seed']}; {config['eval_episodes']} episodes per split "
             f"(evaluation seed {config['eval_seed']}). Cells: {error}, in %, and in brackets the change against "
             "Init in percentage points.", "", "## At equal compute", ""]
    lines += _markdown_table(*table_rows(study))
    lines += ["", f"Equal compute: {study['equal_compute']}.", ""]
    for replicate in study["replicates"]:
        matched = replicate["equal_compute"]
        lines.append(f"- seed {replicate['seed']}: X* = {matched['target_flops'] / 1e9:.4g} GFLOPs; "
                     f"SFT step {matched['sft']['step']} ({matched['sft']['flops'] / 1e9:.4g} GFLOPs, "
                     f"{100 * matched['sft']['relative_gap']:+.1f}%), RL update {matched['rl']['step']} "
                     f"({matched['rl']['flops'] / 1e9:.4g} GFLOPs, {100 * matched['rl']['relative_gap']:+.1f}%); "
                     f"Init {replicate['init']['tokens']} tokens, N = {replicate['init']['parameters']} parameters")
    lines += ["", "## Figures", ""]
    if figure_note:
        lines.append(figure_note)
    for title, name in figures.items():
        lines.append(f"![{title}]({name})")
    if study.get("verify_iters_ablation"):
        lines += ["", "## Verification iterations (Fig 10)", "",
                  "RL arms trained with V attempts per hand, at the largest compute all of them reach (each at its "
                  "nearest checkpoint); cells as above, change against Init in brackets.", ""]
        columns = ["VIter", "GFLOPs", *[f"{name} %" for name in study["splits"]]]
        rows = [[str(row["verify_iter"]), f"{row['gflops']:.4g}", *[format_cell(row["cells"][n]) for n in study["splits"]]]
                for row in study["verify_iters_ablation"]]
        lines += _markdown_table(columns, rows)
    lines += ["", "## Every checkpoint", ""]
    columns = ["seed", "arm", "step", "GFLOPs", *[f"{name} %" for name in study["splits"]]]
    rows = []
    for replicate in study["replicates"]:
        for arm, points in replicate["points"].items():
            for point in points:
                label = ROW_LABELS.get(arm) or f"RL VIter {arm.removeprefix('rl-viter')}"
                rows.append([str(replicate["seed"]), label, str(point["step"]), f"{point['gflops']:.4g}",
                             *[format_cell(point["scores"][name]) for name in study["splits"]]])
    lines += _markdown_table(columns, rows)
    return "\n".join(lines) + "\n"
