"""Run a study's stages in order, skipping finished ones, so that the same command continues a killed study.

A stage is finished when its output holds the completion marker its command writes atomically, last:

- gen-data: `meta.json` (after the records), with the planned record count;
- sft: `final/sft_summary.json` (the staged `final/` folder is renamed into place), with the planned steps;
- ppo: `checkpoints/update_<N>/COMPLETE` for the planned last update;
- eval: `summary.json` (written after every split), holding every planned split with the planned episodes.

So stages run by hand (the commands `--plan` prints) count as finished too. A stage is run as a subprocess
(`python -m sftvsrl_cli ...`, its own memory and torch state; output in `OUT/logs/<stage>.log`); an unfinished
stage is run again with the same command, which continues it (sft `--resume auto`, ppo `--resume`, eval).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from sftvsrl_cli.console import Output
from sftvsrl_cli.study.plan import UNIT_SECONDS, Stage


class StageFailed(RuntimeError):
    """A stage's command failed or ended without its completion marker."""


def _read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def stage_done(stage: Stage) -> bool:
    out, expect = Path(stage.out), stage.expect
    if stage.kind == "gen-data":
        meta = _read_json(out / "meta.json")
        return meta is not None and meta.get("num") == expect["records"]
    if stage.kind == "sft":
        summary = _read_json(out / "final" / "sft_summary.json")
        return summary is not None and summary.get("steps") == expect["steps"]
    if stage.kind == "ppo":
        return (out / "checkpoints" / f"update_{expect['updates']:06d}" / "COMPLETE").is_file()
    if stage.kind == "eval":
        summary = _read_json(out / "summary.json") or {}
        splits = summary.get("splits") or {}
        return all(isinstance(splits.get(name), dict) and splits[name].get("num_traj") == expect["episodes"]
                   for name in expect["splits"])
    raise ValueError(f"unknown stage kind {stage.kind!r}")


def subprocess_executor(log_dir: Path, stream: bool = False) -> Callable[[Stage], None]:
    """Run a stage as `python -m sftvsrl_cli KIND ARGV...`; its output goes to `log_dir/<stage>.log` (or to
    this process's stderr with `stream`)."""

    def execute(stage: Stage) -> None:
        command = [sys.executable, "-m", "sftvsrl_cli", stage.kind, *stage.argv]
        log_path = log_dir / (stage.name.replace("/", "__") + ".log")
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if stream:
            code = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, check=False).returncode
            where = "its output is above"
        else:
            with log_path.open("a", encoding="utf-8") as log:
                log.write(f"$ {stage.command}\n")
                log.flush()
                code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
            where = f"log: {log_path}"
        if code != 0:
            raise StageFailed(f"stage {stage.name} failed (exit {code}; {where})")

    return execute


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


class _Calibration:
    """Scales the built-in per-unit estimates by what this machine took, per kind of stage once one has run for
    half a minute (a short stage says little), else by all stages run so far once they took a minute."""

    MIN_KIND_SECONDS, MIN_TOTAL_SECONDS = 30.0, 60.0

    def __init__(self) -> None:
        self.actual: dict[str, float] = {}
        self.estimated: dict[str, float] = {}

    def add(self, kind: str, estimated: float, actual: float) -> None:
        self.actual[kind] = self.actual.get(kind, 0.0) + actual
        self.estimated[kind] = self.estimated.get(kind, 0.0) + estimated

    def seconds(self, kind: str, estimated: float) -> float:
        if self.actual.get(kind, 0.0) >= self.MIN_KIND_SECONDS and self.estimated[kind] > 0:
            return estimated * self.actual[kind] / self.estimated[kind]
        total_actual, total_estimated = sum(self.actual.values()), sum(self.estimated.values())
        if total_actual >= self.MIN_TOTAL_SECONDS and total_estimated > 0:
            return estimated * total_actual / total_estimated
        return estimated


def run_stages(stages: list[Stage], execute: Callable[[Stage], None], output: Output) -> list[str]:
    """Run every unfinished stage in order; returns the names of the stages run now."""
    pending = [stage for stage in stages if not stage_done(stage)]
    done_before = len(stages) - len(pending)
    if done_before:
        output.info(f"{done_before} of {len(stages)} stages already finished; continuing")
    estimate = {stage.name: stage.units * UNIT_SECONDS[stage.kind] for stage in pending}
    clock = _Calibration()
    ran: list[str] = []
    with output.progress("study", total=len(stages)) as bar:
        bar.advance(done_before)
        for stage in stages:
            if stage.name not in estimate:
                continue
            index = stages.index(stage) + 1
            remaining = sum(clock.seconds(s.kind, estimate[s.name]) for s in stages
                            if s.name in estimate and s.name not in ran)
            output.info(f"stage {index}/{len(stages)} [{stage.arm} arm, seed {stage.seed}] {stage.name}: "
                        f"{stage.command}  (ETA {_minutes(remaining)})")
            started = time.perf_counter()
            execute(stage)
            if not stage_done(stage):
                raise StageFailed(f"stage {stage.name} ended without its completion marker in {stage.out}")
            clock.add(stage.kind, estimate[stage.name], time.perf_counter() - started)
            ran.append(stage.name)
            bar.advance(1, description=f"study: {stage.name} done")
            output.info(f"stage {index}/{len(stages)} {stage.name} done in {_minutes(time.perf_counter() - started)}")
    return ran
