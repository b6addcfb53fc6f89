"""A study folder from start to results: record its settings and plan, run the stages, write the results.

`OUT/study_config.json` (the resolved settings) and `OUT/plan.json` (every stage's command) are written on the
first run; a later run with other settings is refused rather than mixing two studies in one folder. Results
(`study.json`, `report.md`, `figures/`) are rebuilt from the stages' outputs on every run, so they are the same
whether the study ran in one go, was killed and continued, or had its stages run by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from envs.errors import InputError
from envs.sft_records import atomic_write_text
from sftvsrl_cli.console import Output
from sftvsrl_cli.study import figures
from sftvsrl_cli.study.config import StudyConfig
from sftvsrl_cli.study.plan import Stage, split_names
from sftvsrl_cli.study.report import render
from sftvsrl_cli.study.results import build_study, write_json
from sftvsrl_cli.study.runner import run_stages, stage_done

CONFIG_FILE = "study_config.json"
PLAN_FILE = "plan.json"


class StudyMismatch(InputError):
    """The folder holds a study with other settings."""


def prepare(out: Path, config: StudyConfig, stages: list[Stage]) -> None:
    path = out / CONFIG_FILE
    if path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved != config.as_dict():
            changed = sorted(k for k in set(saved) | set(config.as_dict()) if saved.get(k) != config.as_dict().get(k))
            raise StudyMismatch(f"{out} holds a study with other settings ({', '.join(changed)} differ); "
                                "use another --out or the same options")
    else:
        write_json(path, config.as_dict())
    write_json(out / PLAN_FILE, {"stages": [stage.as_dict() for stage in stages]})


def execute_study(out: Path, config: StudyConfig, stages: list[Stage], selected: list[Stage],
                  execute: Callable[[Stage], None], output: Output) -> dict[str, Any] | None:
    """Run the selected stages; when every stage of the study is finished, write and return the results."""
    prepare(out, config, stages)
    run_stages(selected, execute, output)
    missing = [stage.name for stage in stages if not stage_done(stage)]
    if missing:
        output.info(f"{len(missing)} stage(s) of the study are not finished yet (first: {missing[0]}); "
                    f"results are written once they are")
        return None
    return write_results(out, config, stages, output)


def write_results(out: Path, config: StudyConfig, stages: list[Stage], output: Output) -> dict[str, Any]:
    study = build_study(config, stages, out, split_names(config))
    drawn: dict[str, str] = {}
    note = None
    if figures.available():
        drawn["success against training compute"] = figures.curves(study, out / "figures" / "curves.png") \
            .relative_to(out).as_posix()
        recognition = figures.recognition(study, out / "figures" / "recognition.png")
        if recognition is not None:
            drawn["recognition against success"] = recognition.relative_to(out).as_posix()
    else:
        note = "Figures skipped: matplotlib is not installed (pip install 'sftvsrl[plot]')."
        output.info(note)
    write_json(out / "study.json", study)
    atomic_write_text(out / "report.md", render(study, drawn, note))
    return study
