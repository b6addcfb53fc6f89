"""The part of `gen-data` that every environment shares: generate with progress, write, describe, report."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from sftvsrl_cli.console import Output


def write_and_report(output: Output, label: str, num: int, generate: Callable[[Callable[..., None]], list],
                     out_dir: Path, data_format: str, meta: dict[str, Any], json_: bool) -> None:
    """Run `generate(advance)`, write its records and `meta.json`, then print the summary (table or JSON)."""
    from envs.sft_records import atomic_write_text, write_records

    started = time.perf_counter()
    with output.progress(f"gen-data {label}", total=num) as bar:
        records = generate(bar.advance)
    data_path = write_records(records, out_dir, data_format)
    meta = {**meta, "format": data_format, "num": num, "data_file": data_path.name}
    atomic_write_text(out_dir / "meta.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    summary = {**meta, "path": str(data_path), "seconds": round(time.perf_counter() - started, 3)}
    if json_:
        output.result_json(summary)
    else:
        output.table("gen-data", ["records", "file", "seconds"], [[num, str(data_path), summary["seconds"]]])
