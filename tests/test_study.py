"""`sftvsrl study`: plan commands, compute axis and equal-compute matching, and the orchestration (resume,
collection of hand-run stages, tables across seeds) with every stage stubbed at the runner boundary."""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import pytest

from sftvsrl_cli.main import cli
from sftvsrl_cli.study import pipeline, runner as study_runner
from sftvsrl_cli.study.compute import equal_compute, init_compute, rl_compute, sft_compute
from sftvsrl_cli.study.config import StudyConfig, load_study_config
from sftvsrl_cli.study.plan import RESUME_ARGS, build_plan, checkpoint_steps
from sftvsrl_cli.study.runner import StageFailed, stage_done

N = 1000  # parameters of the fake model
INIT_TOKENS = 500
SFT_TOKENS_PER_STEP = 100
RL_TRAIN_PER_UPDATE, RL_BUFFER_PER_UPDATE = 300, 600

SMALL = ["--model", "tiny-llama", "--data-records", "16", "--init-steps", "2", "--sft-steps", "4",
         "--rl-updates", "3", "--checkpoints", "2", "--eval-episodes", "8"]


def small_config(**changes) -> StudyConfig:
    values = {"model": "tiny-llama", "data_records": 16, "init_steps": 2, "sft_steps": 4, "rl_updates": 3,
              "checkpoints": 2, "eval_episodes": 8, **changes}
    return load_study_config(None, values)


def _write(path: Path, payload) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload), encoding="utf-8")


def _hits(label: str, split: str, seed: int, episodes: int) -> int:
    """A fake score that differs by checkpoint, split and seed."""
    return (sum(map(ord, f"{label}/{split}")) + 3 * seed) % (episodes + 1)


def fake_stage(stage) -> None:
    """Write what the stage's command writes, as far as the study reads it."""
    out = Path(stage.out)
    if stage.kind == "gen-data":
        _write(out / "meta.json", {"num": stage.expect["records"]})
    elif stage.kind == "sft":
        steps = stage.expect["steps"]
        every = int(stage.argv[stage.argv.index("--save-every") + 1])
        for step in checkpoint_steps(steps, math.ceil(steps / every)):
            _write(out / f"checkpoint-{step}" / "trainer_state.json",
                   {"tokens": step * SFT_TOKENS_PER_STEP, "run": {"num_params": N}})
        tokens = INIT_TOKENS if stage.arm == "init" else steps * SFT_TOKENS_PER_STEP
        _write(out / "final" / "sft_summary.json", {"steps": steps, "tokens": tokens, "num_params": N})
    elif stage.kind == "ppo":
        updates = stage.expect["updates"]
        every = int(next(a for a in stage.argv if a.startswith("--save_every=")).split("=")[1])
        for update in checkpoint_steps(updates, math.ceil(updates / every)):
            folder = out / "checkpoints" / f"update_{update:06d}"
            _write(folder / "trainer_state.json", {"compute": {
                "parameters": N, "init_flops": 0.0, "train_tokens": update * RL_TRAIN_PER_UPDATE,
                "buffer_tokens": update * RL_BUFFER_PER_UPDATE}})
            (folder / "COMPLETE").write_text("")
    else:
        episodes, label = stage.expect["episodes"], stage.argv[stage.argv.index("--label") + 1]
        splits = {}
        for name in stage.expect["splits"]:
            hits = _hits(label, name, stage.seed, episodes)
            rate = hits / episodes
            metrics = {"success": {"hits": hits, "n": episodes, "rate": rate,
                                   "stderr": math.sqrt(rate * (1 - rate) / episodes)}}
            if "visual-ood" in stage.expect["splits"]:  # GP-VL evaluations measure recognition too
                metrics["recognition"] = {"hits": episodes - hits, "n": episodes, "rate": 1 - rate, "stderr": 0.0}
            splits[name] = {"num_traj": episodes, "primary_metric": "success", "metrics": metrics}
        _write(out / "summary.json", {"label": label, "splits": splits})


class Recorder:
    def __init__(self, fail_at: str | None = None):
        self.ran: list[str] = []
        self.fail_at = fail_at

    def __call__(self, stage) -> None:
        if stage.name == self.fail_at:
            if stage.kind == "sft":  # killed halfway: a checkpoint written, no final model
                _write(Path(stage.out) / "checkpoint-2" / "trainer_state.json", {"tokens": 1})
            raise StageFailed(f"stage {stage.name} failed (exit -9)")
        self.ran.append(stage.name)
        fake_stage(stage)


@pytest.fixture
def stub(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(study_runner, "subprocess_executor", lambda log_dir, stream=False: recorder)
    return recorder


# --- plan -------------------------------------------------------------------------------------------------

def test_checkpoint_steps_are_evenly_spaced_and_end_at_the_last_step():
    assert checkpoint_steps(300, 3) == [100, 200, 300]
    assert checkpoint_steps(10, 3) == [4, 8, 10]
    assert checkpoint_steps(2, 5) == [1, 2]


def test_plan_prints_the_exact_commands(runner, tmp_path):
    out = tmp_path / "s"
    result = runner.invoke(cli, ["study", "--plan", "--out", str(out), *SMALL])
    assert result.exit_code == 0, result.output
    commands = [line for line in result.output.splitlines() if not line.startswith("#")]
    d = str(out / "seed-0")
    ppo_resume = " ".join(RESUME_ARGS["ppo"])  # the option spellings are being unified (plan.py keeps them)
    assert commands[:4] == [
        f"sftvsrl gen-data --task gp-l --num 16 --seed 0 --out {d}/data "
        "--env_config.treat_face_cards_as_10=true --env_config.ood=false",
        f"sftvsrl sft --model tiny-llama --data {d}/data --out {d}/init --max-steps 2 --save-every 2 --seed 0 "
        "--resume auto -f study/sft_tiny",
        f"sftvsrl eval --model {d}/init/final --label init --task gp-l --split id,rule-ood --num-traj 8 --seed 42 "
        f"--max-new-tokens 64 --batch-size 16 --out {d}/evals/init --verify-iter 1",
        f"sftvsrl sft --model {d}/init/final --data {d}/data --out {d}/sft --max-steps 4 --save-every 2 --seed 0 "
        "--resume auto -f study/sft_tiny",
    ]
    assert f"sftvsrl ppo --task gp-l --model {d}/init/final --out {d}/rl --seed 0 {ppo_resume} " \
           "-f ppo/tiny_gp_l --num_updates=3 --save_every=2 --optimizer_config.lr_max_steps=3 " \
           "--env_config.treat_face_cards_as_10=true --env_config.ood=false" in commands
    evaluated = [shlex.split(c)[shlex.split(c).index("--model") + 1] for c in commands if c.startswith("sftvsrl eval")]
    assert evaluated == [f"{d}/init/final", f"{d}/sft/checkpoint-2", f"{d}/sft/checkpoint-4",
                         f"{d}/rl/checkpoints/update_000002/policy", f"{d}/rl/checkpoints/update_000003/policy"]
    assert not out.exists(), "--plan runs nothing and writes nothing"


def test_plan_json_lists_every_stage_and_arm_filter(runner, tmp_path):
    result = runner.invoke(cli, ["study", "--plan", "--json", "--out", str(tmp_path / "s"), "--arm", "rl", *SMALL])
    assert result.exit_code == 0, result.output
    stages = json.loads(result.stdout)["stages"]
    assert [s["name"] for s in stages] == ["seed-0/rl", "seed-0/evals/rl-2", "seed-0/evals/rl-3"]
    assert all(s["argv"][0] == "sftvsrl" and not s["done"] for s in stages)


def test_seeds_are_full_replicates_with_their_own_init_and_the_same_episodes(tmp_path):
    stages = build_plan(small_config(seeds=2, seed=5), tmp_path)
    inits = [s for s in stages if s.kind == "sft" and s.arm == "init"]
    assert [s.out for s in inits] == [str(tmp_path / "seed-5" / "init"), str(tmp_path / "seed-6" / "init")]
    assert {s.argv[s.argv.index("--seed") + 1] for s in stages if s.kind == "eval"} == {"42"}


def test_gp_vl_trains_on_black_suits_and_evaluates_three_splits(tmp_path):
    stages = build_plan(small_config(task="gp-vl", model="tiny-mllama"), tmp_path)
    assert "--env_config.face_cards_color=black" in stages[0].argv
    assert stages[2].expect["splits"] == ["id", "rule-ood", "visual-ood"]


@pytest.mark.parametrize("args, message", [
    (["--task", "virl-l"], "--task virl-l needs route data: --routes"),
    (["-f", "nope"], "study config not found: nope"),
    (["--env-config", "oops"], "--env-config takes KEY=VALUE"),
    (["--rl-config", "ppo/tiny_gp_x"], "config file not found: ppo/tiny_gp_x"),
    (["--verify-iters", "1,x"], "--verify-iters takes comma-separated integers"),
])
def test_bad_settings_are_one_line_errors(runner, tmp_path, args, message):
    result = runner.invoke(cli, ["study", "--plan", "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in result.output


# --- compute ----------------------------------------------------------------------------------------------

def test_compute_axis_matches_hand_computed_values(tmp_path):
    _write(tmp_path / "init" / "final" / "sft_summary.json", {"tokens": 500, "num_params": 1000, "steps": 2})
    _write(tmp_path / "sft" / "checkpoint-4" / "trainer_state.json", {"tokens": 400, "run": {"num_params": 1000}})
    _write(tmp_path / "rl" / "trainer_state.json",
           {"compute": {"parameters": 1000, "init_flops": 0.0, "train_tokens": 300, "buffer_tokens": 600}})
    init = init_compute(tmp_path / "init")
    assert init["flops"] == 6 * 1000 * 500 == 3_000_000
    assert sft_compute(init, tmp_path / "sft" / "checkpoint-4")["flops"] == 6 * 1000 * (500 + 400) == 5_400_000
    assert rl_compute(init, tmp_path / "rl")["flops"] == 6 * 1000 * (500 + 300) + 2 * 1000 * 600 == 6_000_000


def test_compute_refuses_checkpoints_of_another_model(tmp_path):
    _write(tmp_path / "init" / "final" / "sft_summary.json", {"tokens": 5, "num_params": 1000})
    _write(tmp_path / "c" / "trainer_state.json", {"tokens": 4, "run": {"num_params": 999}})
    with pytest.raises(ValueError, match="not the same model"):
        sft_compute(init_compute(tmp_path / "init"), tmp_path / "c")


def test_equal_compute_is_the_largest_both_reach_and_the_nearest_checkpoints():
    sft = [{"step": s, "flops": f} for s, f in ((10, 100.0), (20, 200.0), (30, 300.0))]
    rl = [{"step": u, "flops": f} for u, f in ((1, 90.0), (2, 180.0), (3, 260.0))]
    matched = equal_compute(sft, rl)
    assert matched["target_flops"] == 260.0  # RL's largest; SFT reaches further
    assert (matched["sft"]["step"], matched["rl"]["step"]) == (30, 3)  # |300-260| < |200-260|
    assert matched["sft"]["relative_gap"] == pytest.approx(40 / 260)
    tie = equal_compute([{"step": 1, "flops": 90.0}, {"step": 2, "flops": 110.0}, {"step": 3, "flops": 200.0}],
                        [{"step": 1, "flops": 100.0}])
    assert tie["sft"]["step"] == 1  # 90 and 110 are as near to 100: the lower wins


# --- orchestration (stages stubbed) -----------------------------------------------------------------------

def _table_cell(study, row, split):
    return study["table"]["rows"][row]["cells"][split]


def test_study_runs_every_stage_once_and_writes_results(runner, tmp_path, stub):
    out = tmp_path / "s"
    result = runner.invoke(cli, ["study", "--out", str(out), *SMALL])
    assert result.exit_code == 0, result.output
    assert len(stub.ran) == len(build_plan(small_config(), out)) == 9
    study = json.loads((out / "study.json").read_text())
    replicate = study["replicates"][0]
    x_init = 6 * N * INIT_TOKENS
    assert replicate["init"]["flops"] == x_init
    assert [p["flops"] for p in replicate["points"]["sft"]] == [
        6 * N * (INIT_TOKENS + s * SFT_TOKENS_PER_STEP) for s in (2, 4)]
    rl = [6 * N * (INIT_TOKENS + u * RL_TRAIN_PER_UPDATE) + 2 * N * u * RL_BUFFER_PER_UPDATE for u in (2, 3)]
    assert [p["flops"] for p in replicate["points"]["rl"]] == rl
    # X* = min(max SFT = 6N*900 = 5.4e6, max RL = 6N*1400 + 2N*1800 = 12e6) = 5.4e6; RL's nearest is update 2 (9.6e6).
    assert replicate["equal_compute"]["target_flops"] == 5.4e6
    assert replicate["equal_compute"]["rl"]["step"] == 2 and replicate["equal_compute"]["sft"]["step"] == 4
    init_rate = _hits("init", "rule-ood", 0, 8) / 8
    rl_rate = _hits("rl-2", "rule-ood", 0, 8) / 8
    cell = _table_cell(study, "rl", "rule-ood")
    assert cell["rate"] == rl_rate and cell["delta"] == pytest.approx(rl_rate - init_rate)
    assert cell["stderr"] == pytest.approx(math.sqrt(rl_rate * (1 - rl_rate) / 8))
    report = (out / "report.md").read_text()
    assert "| RL |" in report and "X* = 0.0054 GFLOPs" in report
    stub.ran.clear()
    again = runner.invoke(cli, ["study", "--out", str(out), *SMALL])
    assert again.exit_code == 0 and stub.ran == [], "a finished study runs nothing"
    assert json.loads((out / "study.json").read_text()) == study


def test_killed_study_continues_where_it_stopped_with_identical_results(runner, tmp_path, stub):
    whole = tmp_path / "whole"
    assert runner.invoke(cli, ["study", "--out", str(whole), *SMALL]).exit_code == 0
    killed = tmp_path / "killed"
    stub.ran.clear()
    stub.fail_at = "seed-0/sft"
    result = runner.invoke(cli, ["study", "--out", str(killed), *SMALL])
    assert result.exit_code == 1
    assert "re-running the same command continues the study" in result.output
    assert stub.ran == ["seed-0/data", "seed-0/init", "seed-0/evals/init"]
    assert not (killed / "study.json").exists()
    stub.ran.clear()
    stub.fail_at = None
    assert runner.invoke(cli, ["study", "--out", str(killed), *SMALL]).exit_code == 0
    assert stub.ran[0] == "seed-0/sft" and "seed-0/init" not in stub.ran
    assert (killed / "study.json").read_text() == (whole / "study.json").read_text()


def test_stages_run_by_hand_are_collected_without_running_again(runner, tmp_path, stub, monkeypatch):
    out = tmp_path / "s"
    for arm in ("init", "sft", "rl"):  # three cluster jobs, one per arm
        assert runner.invoke(cli, ["study", "--out", str(out), "--arm", arm, *SMALL]).exit_code == 0
        assert (out / "study.json").exists() == (arm == "rl")
    hand = tmp_path / "hand"
    for stage in build_plan(small_config(), hand):  # the printed commands, run by hand
        fake_stage(stage)
    stub.ran.clear()
    listed = runner.invoke(cli, ["study", "--plan", "--out", str(hand), *SMALL]).output
    assert listed.count("[done]") == 9
    assert runner.invoke(cli, ["study", "--out", str(hand), *SMALL]).exit_code == 0
    assert stub.ran == []
    assert (hand / "study.json").read_text() == (out / "study.json").read_text()


def test_a_folder_holding_another_study_is_refused(runner, tmp_path, stub):
    out = tmp_path / "s"
    assert runner.invoke(cli, ["study", "--out", str(out), *SMALL]).exit_code == 0
    result = runner.invoke(cli, ["study", "--out", str(out), *SMALL, "--rl-updates", "5"])
    assert result.exit_code == 2
    assert "holds a study with other settings (rl_updates differ)" in result.output


def test_stage_without_its_completion_marker_fails(tmp_path):
    config = small_config()
    stages = build_plan(config, tmp_path)
    from sftvsrl_cli.console import Output

    with pytest.raises(StageFailed, match="without its completion marker"):
        pipeline.execute_study(tmp_path, config, stages, stages, lambda stage: None, Output(quiet=True))
    assert not stage_done(stages[0])


def test_several_seeds_give_mean_and_standard_error_across_seeds(runner, tmp_path, stub):
    out = tmp_path / "s"
    assert runner.invoke(cli, ["study", "--out", str(out), "--seeds", "3", *SMALL]).exit_code == 0
    study = json.loads((out / "study.json").read_text())
    assert [r["seed"] for r in study["replicates"]] == [0, 1, 2]
    rates = [_hits("sft-4", "id", seed, 8) / 8 for seed in range(3)]
    deltas = [r - _hits("init", "id", seed, 8) / 8 for seed, r in enumerate(rates)]
    mean = sum(rates) / 3
    se = math.sqrt(sum((r - mean) ** 2 for r in rates) / 2) / math.sqrt(3)
    cell = _table_cell(study, "sft", "id")
    assert cell["rate"] == pytest.approx(mean) and cell["stderr"] == pytest.approx(se)
    assert cell["delta"] == pytest.approx(sum(deltas) / 3)
    assert study["table"]["error"] == "across seeds"


def test_figures_are_drawn_or_skipped_with_a_clear_line(runner, tmp_path, stub, monkeypatch):
    pytest.importorskip("matplotlib")
    out = tmp_path / "s"
    assert runner.invoke(cli, ["study", "--out", str(out), *SMALL]).exit_code == 0
    assert (out / "figures" / "curves.png").stat().st_size > 1000
    assert "![success against training compute](figures/curves.png)" in (out / "report.md").read_text()
    monkeypatch.setattr(pipeline.figures, "available", lambda: False)
    result = runner.invoke(cli, ["study", "--out", str(out), *SMALL])
    assert result.exit_code == 0
    assert "Figures skipped: matplotlib is not installed" in result.output
    assert "Figures skipped: matplotlib is not installed" in (out / "report.md").read_text()


def test_eta_calibrates_per_kind_once_a_stage_ran_long_enough():
    clock = study_runner._Calibration()
    clock.add("gen-data", 8.0, 4.0)  # a short stage says nothing yet
    assert clock.seconds("sft", 100.0) == 100.0
    clock.add("sft", 100.0, 200.0)
    assert clock.seconds("sft", 50.0) == 100.0
    assert clock.seconds("eval", 10.0) == pytest.approx(10.0 * 204.0 / 108.0)


def test_slurm_example_submits_init_then_both_arms_then_results(tmp_path):
    import os
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text('#!/bin/bash\necho "$@" >> "$SBATCH_LOG"\n'
                                    'n=$(wc -l < "$SBATCH_LOG"); echo $((100 + n))\n')
    (bin_dir / "sftvsrl").write_text("#!/bin/bash\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    script = Path(__file__).resolve().parent.parent / "examples" / "slurm" / "study_arms.sh"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SBATCH_LOG": str(tmp_path / "log")}
    result = subprocess.run(["bash", str(script), "runs/s", "--task", "gp-l"], env=env, capture_output=True,
                            text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    jobs = (tmp_path / "log").read_text().splitlines()
    assert len(jobs) == 4
    assert "--dependency" not in jobs[0] and "--arm init" in jobs[0]
    assert "--dependency=afterok:101" in jobs[1] and "--arm sft" in jobs[1]
    assert "--dependency=afterok:101" in jobs[2] and "--arm rl" in jobs[2]
    assert "--dependency=afterok:102:103" in jobs[3] and "--arm" not in jobs[3]
    assert all("sftvsrl study --out runs/s --task gp-l" in job for job in jobs)
    (tmp_path / "log").unlink()
    result = subprocess.run(["bash", str(script), "runs/s", "--verify-iters", "1,5"], env=env, capture_output=True,
                            text=True, cwd=tmp_path)
    jobs = (tmp_path / "log").read_text().splitlines()
    assert "--arm ablation" in jobs[3] and "--dependency=afterok:102:103:104" in jobs[4]


def test_gp_vl_study_plots_recognition_against_success(runner, tmp_path, stub):
    pytest.importorskip("matplotlib")
    out = tmp_path / "s"
    result = runner.invoke(cli, ["study", "--out", str(out), "--task", "gp-vl", *SMALL[2:]])
    assert result.exit_code == 0, result.output
    study = json.loads((out / "study.json").read_text())
    assert study["splits"] == ["id", "rule-ood", "visual-ood"]
    point = study["replicates"][0]["points"]["rl"][0]
    assert point["scores"]["visual-ood"]["recognition"] == 1 - point["scores"]["visual-ood"]["rate"]
    assert (out / "figures" / "recognition.png").stat().st_size > 1000
    assert "figures/recognition.png" in (out / "report.md").read_text()


def test_verify_iters_ablation_adds_rl_arms_compared_at_their_common_compute(runner, tmp_path, stub):
    out = tmp_path / "s"
    result = runner.invoke(cli, ["study", "--out", str(out), *SMALL, "--verify-iters", "1,3"])
    assert result.exit_code == 0, result.output
    plan = json.loads((out / "plan.json").read_text())["stages"]
    ppo = {s["name"]: s["argv"] for s in plan if s["kind"] == "ppo"}
    assert sorted(ppo) == ["seed-0/rl", "seed-0/rl-viter1", "seed-0/rl-viter3"]
    assert ppo["seed-0/rl-viter3"][-1] == "--env_config.verify_iter=3"
    assert [s["arm"] for s in plan if s["name"].startswith("seed-0/evals/rl-viter")] == ["ablation"] * 4
    study = json.loads((out / "study.json").read_text())
    rows = study["verify_iters_ablation"]
    assert [row["verify_iter"] for row in rows] == [1, 3]
    init = _hits("init", "rule-ood", 0, 8) / 8
    # the fake arms have equal compute per update: all compared at their last checkpoint (update 3)
    assert rows[1]["cells"]["rule-ood"]["delta"] == pytest.approx(_hits("rl-viter3-3", "rule-ood", 0, 8) / 8 - init)
    assert "## Verification iterations (Fig 10)" in (out / "report.md").read_text()
    assert runner.invoke(cli, ["study", "--plan", "--out", str(tmp_path / "t"), "--verify-iters", "3,3"]).exit_code == 2
