"""The one tracking layer (trainers.tracking) and its use by PPO's run log and SFT, with fake backends."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from sftvsrl_cli.main import cli
from trainers.ppo.run_log import RunLog
from trainers.tracking import open_tracker, parse_report_to


class FakeWandb(types.ModuleType):
    """Records `wandb.init`, `run.log` and `run.finish` calls."""

    def __init__(self) -> None:
        super().__init__("wandb")
        self.__spec__ = importlib.machinery.ModuleSpec("wandb", None)
        self.inits: list[dict] = []
        self.logged: list[tuple[dict, int]] = []
        self.finished = 0

    def init(self, **kwargs):
        self.inits.append(kwargs)
        module = self

        class Run:
            def log(self, metrics, step):
                module.logged.append((dict(metrics), step))

            def finish(self):
                module.finished += 1

        return Run()


@pytest.fixture
def fake_wandb(monkeypatch):
    module = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", module)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    monkeypatch.delenv("WANDB_DIR", raising=False)
    return module


@pytest.fixture
def fake_tensorboard(monkeypatch):
    scalars: list[tuple[str, float, int]] = []
    writers: list[str] = []

    class SummaryWriter:
        def __init__(self, log_dir):
            writers.append(log_dir)

        def add_scalar(self, key, value, step):
            scalars.append((key, value, step))

        def close(self):
            writers.append("closed")

    module = types.ModuleType("torch.utils.tensorboard")
    module.SummaryWriter = SummaryWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", module)
    return scalars, writers


def test_report_to_names_are_parsed_and_none_means_no_tracker(tmp_path):
    assert parse_report_to("none") == [] and parse_report_to(None) == [] and parse_report_to([]) == []
    assert parse_report_to("wandb,tensorboard") == ["wandb", "tensorboard"]
    assert parse_report_to(["WandB", "wandb", "none"]) == ["wandb"]
    with pytest.raises(ValueError, match="one of none, wandb, tensorboard"):
        parse_report_to("mlflow")
    assert not open_tracker("none", tmp_path).active


def test_wandb_project_and_folder_default_and_follow_the_environment(fake_wandb, tmp_path, monkeypatch):
    tracker = open_tracker("wandb", tmp_path / "run", run_name="r1", config={"lr": 1e-6})
    tracker.log({"update": 1, "success_rate": 0.5, "note": "text", "flag": True, "missing": None}, step=1)
    tracker.close()
    assert fake_wandb.inits[0] == {"project": "sftvsrl", "dir": str(tmp_path / "run"), "name": "r1",
                                   "config": {"lr": 1e-6}}
    assert fake_wandb.logged == [({"update": 1, "success_rate": 0.5}, 1)] and fake_wandb.finished == 1
    monkeypatch.setenv("WANDB_PROJECT", "my-study")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb-files"))
    open_tracker(["wandb"], tmp_path / "run").close()
    assert fake_wandb.inits[1]["project"] == "my-study"
    assert fake_wandb.inits[1]["dir"] == str(tmp_path / "wandb-files") and (tmp_path / "wandb-files").is_dir()


def test_missing_backend_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    with pytest.raises(ValueError, match=r"report_to wandb needs the wandb package: pip install 'sftvsrl\[tracking\]'"):
        open_tracker("wandb", tmp_path)


def test_ppo_run_log_sends_the_log_lines_metrics_to_every_backend(fake_wandb, fake_tensorboard, tmp_path):
    scalars, writers = fake_tensorboard
    log = RunLog(tmp_path, "wandb,tensorboard", "ppo-run", {"seed": 1})
    record = {"update": 2, "success_rate": 0.25, "policy_loss": -0.01, "eval/id/success": 0.5, "model": "x"}
    log.write(record)
    log.close()
    (line,) = [json.loads(text) for text in (tmp_path / "log.jsonl").read_text().splitlines()]
    numeric = {k: v for k, v in line.items() if isinstance(v, float | int)}
    assert fake_wandb.logged == [(numeric, 2)]
    assert sorted(scalars) == sorted((k, v, 2) for k, v in numeric.items())
    assert writers == [str(tmp_path / "tensorboard"), "closed"] and fake_wandb.finished == 1
    assert fake_wandb.inits[0]["project"] == "sftvsrl" and fake_wandb.inits[0]["dir"] == str(tmp_path)


def test_ppo_run_log_tracks_only_on_the_main_process(fake_wandb, tmp_path):
    RunLog(tmp_path, "wandb", enabled=False).write({"update": 1, "success_rate": 1.0})
    assert fake_wandb.inits == [] and not (tmp_path / "log.jsonl").exists()


def _sft_data(folder: Path) -> Path:
    from envs.general_points.config import GeneralPointsConfig
    from envs.general_points.sft_data import GPDataSpec, generate_records
    from envs.sft_records import write_records

    env = GeneralPointsConfig(language_only=True, resolution=128)
    write_records(generate_records(GPDataSpec(num=16, seed=0, env=env), None), folder, "llava")
    return folder


@pytest.mark.slow
def test_sft_logs_train_log_metrics_to_wandb_and_accepts_report_to_none(fake_wandb, tmp_path):
    data = _sft_data(tmp_path / "data")
    common = ["sft", "--data", str(data), "--max-steps", "2", "--batch-size", "8", "--log-every", "1", "--json"]
    result = CliRunner().invoke(cli, [*common, "--out", str(tmp_path / "w"), "--report-to", "wandb"])
    assert result.exit_code == 0, result.output
    assert "start sft (2 to do)" in result.stderr and "done sft 2/2 in" in result.stderr  # the log shows progress
    lines = [json.loads(text) for text in (tmp_path / "w" / "train_log.jsonl").read_text().splitlines()]
    assert [step for _, step in fake_wandb.logged] == [line["step"] for line in lines] == [1, 2]
    for (metrics, _), line in zip(fake_wandb.logged, lines):
        assert metrics == {k: v for k, v in line.items() if isinstance(v, float | int) and v is not None}
    assert fake_wandb.inits[0]["project"] == "sftvsrl" and fake_wandb.finished == 1
    plain = CliRunner().invoke(cli, [*common, "--out", str(tmp_path / "n"), "--report-to", "none"])
    assert plain.exit_code == 0, plain.output
    assert len(fake_wandb.inits) == 1 and (tmp_path / "n" / "train_log.jsonl").is_file()


@pytest.mark.slow
def test_ppo_cli_report_to_tensorboard_and_none_with_progress_in_the_log(fake_tensorboard, tmp_path, monkeypatch):
    from tests.ppo_helpers import TINY_RUN

    scalars, _ = fake_tensorboard
    monkeypatch.setenv("SFTVSRL_PROGRESS_INTERVAL", "1")
    common = ["ppo", "--model", "tiny-llama", *TINY_RUN, "--num_updates=1"]
    result = CliRunner().invoke(cli, [*common, "--out", str(tmp_path / "tb"), "--report-to", "tensorboard"])
    assert result.exit_code == 0, result.output
    (line,) = [json.loads(text) for text in (tmp_path / "tb" / "log.jsonl").read_text().splitlines()]
    assert {key for key, _, _ in scalars} == {k for k, v in line.items() if isinstance(v, float | int)}
    assert "start ppo (" in result.stderr and "done ppo 2/2 in" in result.stderr  # plain progress, 2 rounds
    assert "update=1 " in result.stderr
    plain = CliRunner().invoke(cli, [*common, "--out", str(tmp_path / "none"), "--report-to", "none"])
    assert plain.exit_code == 0, plain.output
    assert not (tmp_path / "none" / "tensorboard").exists()
