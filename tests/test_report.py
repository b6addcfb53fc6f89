"""`sftvsrl report`: comparability warnings, errors that name the file, the compute axis with the init's
compute, and numbers shown rounded (unmeasured as `-`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evaluators.metrics import format_fraction, format_number
from evaluators.plot import init_gflops, log_curves, read_log
from evaluators.report import build_report, to_markdown
from sftvsrl_cli.main import cli


def _summary(label: str, rate: float, n: int = 200, seed: int = 42) -> dict:
    metric = {"rate": rate, "stderr": (rate * (1 - rate) / n) ** 0.5, "n": n, "hits": int(rate * n)}
    split = {"primary_metric": "success", "metrics": {"success": metric}, "num_traj": n, "seed": seed}
    return {"label": label, "splits": {"id": dict(split), "rule-ood": dict(split)}}


def test_rows_of_different_sizes_or_seeds_are_flagged():
    same = build_report([_summary("Init", 0.1), _summary("RL", 0.2)])
    assert same["warnings"] == []
    mixed = build_report([_summary("Init", 0.1, n=234), _summary("SFT", 0.2, n=50), _summary("RL", 0.3, seed=7)])
    assert mixed["warnings"] == [
        "id: rows were evaluated on different numbers of episodes (Init: 234, SFT: 50, RL: 200); "
        "their differences mix that in",
        "id: rows were evaluated on different seeds (Init: 42, SFT: 42, RL: 7); their differences mix that in",
        "rule-ood: rows were evaluated on different numbers of episodes (Init: 234, SFT: 50, RL: 200); "
        "their differences mix that in",
        "rule-ood: rows were evaluated on different seeds (Init: 42, SFT: 42, RL: 7); their differences mix that in",
    ]
    assert "Warning: id: rows were evaluated on different numbers of episodes" in to_markdown(mixed)


def test_report_command_warns_on_stderr_and_keeps_stdout_clean(tmp_path):
    for label, summary in (("Init", _summary("Init", 0.1, n=100)), ("RL", _summary("RL", 0.3, n=234))):
        (tmp_path / label).mkdir()
        (tmp_path / label / "summary.json").write_text(json.dumps(summary))
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "Init"), str(tmp_path / "RL"), "--json"])
    assert result.exit_code == 0, result.output
    assert "warning: id: rows were evaluated on different numbers of episodes (Init: 100, RL: 234)" in result.stderr
    assert json.loads(result.stdout)["warnings"][0].startswith("id: ")


def test_a_log_without_the_metric_is_named(tmp_path):
    log = tmp_path / "runs" / "sft" / "train_log.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text(json.dumps({"step": 1, "loss": 2.0, "flops": 1e9}) + "\n")
    with pytest.raises(ValueError, match=rf"^{log}: the log has no eval/<split>/success values"):
        log_curves(log)
    with pytest.raises(ValueError, match=f"cannot read training log {tmp_path / 'missing.jsonl'}"):
        log_curves(tmp_path / "missing.jsonl")
    summary = tmp_path / "s.json"
    summary.write_text(json.dumps(_summary("Init", 0.1)))
    result = CliRunner().invoke(cli, ["report", str(summary), "--plot", str(tmp_path / "p.png"), "--log", f"SFT={log}"])
    assert result.exit_code == 2 and str(log) in result.stderr, result.output


def _ppo_run(folder: Path, model: str, init_in_log: float = 0.0) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(f"model_path: {model}\nppo_run:\n  model: {model}\n")
    records = []
    total = init_in_log
    for update in (1, 2):
        total += 3e9
        records.append({"update": update, "flops_train": 2e9, "flops_rollout": 1e9, "compute_flops": total,
                        "compute_gflops": total / 1e9, "eval/id/success": 0.1 * update})
    (folder / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder / "log.jsonl"


def test_compute_axis_adds_the_sft_init_a_ppo_run_started_from(tmp_path):
    sft_final = tmp_path / "sft" / "final"
    sft_final.mkdir(parents=True)
    (sft_final / "sft_summary.json").write_text(json.dumps({"flops": 5e9, "steps": 10}))
    log = _ppo_run(tmp_path / "rl", str(sft_final))
    assert init_gflops(log, read_log(log)) == (pytest.approx(5.0), sft_final / "sft_summary.json")
    _, series = log_curves(log)
    assert series["id"] == [(pytest.approx(8.0), pytest.approx(10.0)), (pytest.approx(11.0), pytest.approx(20.0))]


def test_compute_already_counting_the_init_is_not_counted_twice(tmp_path):
    init = tmp_path / "tiny-init"
    init.mkdir()
    (init / "init.json").write_text(json.dumps({"train_flops": 4e9}))
    log = _ppo_run(tmp_path / "rl", str(init), init_in_log=4e9)  # the built-in init: the trainer adds it
    assert init_gflops(log, read_log(log)) == (0.0, None)
    _, series = log_curves(log)
    assert series["id"][0][0] == pytest.approx(7.0)
    hub = _ppo_run(tmp_path / "hub", "meta-llama/Llama-3.2-11B-Vision-Instruct")  # no local init record
    assert init_gflops(hub, read_log(hub)) == (0.0, None)


def test_numbers_are_rounded_and_unmeasured_ones_are_dashes():
    assert format_number(0.14583333333333334) == "0.1458" and format_number(None) == "-"
    assert format_number(float("inf")) == "-" and format_number(12) == "12" and format_number(1234567.0) == "1.235e+06"
    assert format_fraction(0.14583333333333334, 48) == "14.6 ± 5.1"
    assert format_fraction(None, 48) == "-" and format_fraction(0.5, 0) == "-"


def test_a_ppo_run_from_an_sft_checkpoint_counts_the_checkpoints_compute(tmp_path):
    checkpoint = tmp_path / "sft" / "checkpoint-4"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text(json.dumps({"step": 4, "flops": 2e9, "tokens": 100}))
    log = _ppo_run(tmp_path / "rl", str(checkpoint))
    _, series = log_curves(log)
    assert series["id"][0][0] == pytest.approx(5.0)
    (checkpoint / "trainer_state.json").write_text("{}")
    with pytest.raises(ValueError, match=rf"^{log}: {checkpoint / 'trainer_state.json'}: no readable 'flops'"):
        log_curves(log)
