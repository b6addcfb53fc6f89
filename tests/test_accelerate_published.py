"""The published launcher configs run unchanged: `accelerate launch --config_file scripts/config_zero2_8gpu.yaml`
(and `config_zero2_1gpu.yaml`), whose DeepSpeed settings are inline (no DeepSpeed file), trains `sftvsrl sft` and
`sftvsrl ppo` under ZeRO-2 with the optimizer state on the CPU; the published SFT DeepSpeed file's optimizer and
scheduler sections go to the SFT trainer, the rest to DeepSpeed.

The fast tests take the variables accelerate exports from accelerate's own launcher code run on the published
YAML files; the slow ones launch two CPU ranks (gloo) with `accelerate launch`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from click.testing import CliRunner

from envs.errors import InputError
from tests.ppo_helpers import TINY_RUN
from trainers.ppo.deepspeed_setup import check_deepspeed_choice, deepspeed_config, offloads_optimizer
from trainers.sft.distributed import (deepspeed_choice, deepspeed_label, deepspeed_plugin, fill_model_sized_values,
                                      filled_deepspeed_config, launcher_dtype, read_deepspeed_config,
                                      split_hf_sections)

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "tests" / "published"
LAUNCHERS = {"8gpu": PUBLISHED / "config_zero2_8gpu.yaml", "1gpu": PUBLISHED / "config_zero2_1gpu.yaml"}
SFT_DEEPSPEED_FILE = PUBLISHED / "sft_zero3_offload.json"
PUBLISHED_LABEL = "accelerate: zero_stage 2, offload_optimizer cpu"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accelerate_env(yaml_file: Path, *options: str) -> dict[str, str]:
    """The ACCELERATE_* variables `accelerate launch --config_file yaml_file *options -m ...` gives its ranks,
    from accelerate's own code (commands/launch.py, utils/launch.py)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    args = launch_command_parser().parse_args(["--config_file", str(yaml_file), "--main_process_port", "0",
                                               *options, "-m", "sftvsrl_cli", "sft"])
    args, defaults, mixed_precision_from_config = _validate_launch_command(args)
    assert args.use_deepspeed
    fields = list(defaults.deepspeed_config) + (["mixed_precision"] if mixed_precision_from_config else [])
    args.deepspeed_fields_from_accelerate_config = ",".join(fields)  # as launch_command sets it
    _, env = prepare_deepspeed_cmd_env(args)
    return {key: value for key, value in env.items() if key.startswith("ACCELERATE_")}


@pytest.fixture
def launched(monkeypatch):
    """Set the variables of an `accelerate launch` (and only those) in this process."""
    def launch(env: dict[str, str]) -> None:
        for key in [k for k in os.environ if k.startswith("ACCELERATE_")]:
            monkeypatch.delenv(key)
        for key, value in env.items():
            monkeypatch.setenv(key, value)

    return launch


# -- the inline settings become a DeepSpeed config -------------------------------------------------------------

@pytest.mark.parametrize("name", list(LAUNCHERS))
def test_published_launcher_config_is_zero2_with_optimizer_offload(name, launched):
    env = accelerate_env(LAUNCHERS[name])
    assert env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == "2" and env["ACCELERATE_MIXED_PRECISION"] == "bf16"
    assert not any("OVERLAP" in key for key in env)  # accelerate does not pass overlap_comm on
    launched(env)
    choice = deepspeed_choice(None)
    assert choice == {"zero_optimization": {"stage": 2, "offload_optimizer": {
        "device": "cpu", "pin_memory": torch.cuda.is_available()}},
        "gradient_accumulation_steps": "auto", "gradient_clipping": "auto"}
    assert deepspeed_label(None) == PUBLISHED_LABEL
    filled = filled_deepspeed_config(choice, where=PUBLISHED_LABEL, micro_batch=2, grad_accum=1, world_size=2,
                                     max_grad_norm=1.0, mixed_precision="bf16")
    assert (filled["train_batch_size"], filled["gradient_clipping"], filled["bf16"]) == (4, 1.0, {"enabled": True})
    plugin = deepspeed_plugin(filled)  # accelerate refuses a config next to its YAML's fields unless told
    assert (plugin.zero_stage, plugin.offload_optimizer_device) == (2, "cpu")
    # ppo: the same settings, its own Adam on the CPU (DeepSpeed's CPU Adam follows from the offload).
    assert check_deepspeed_choice(choice, offload_optimizer=False, eval_every=0) == 2
    ppo = deepspeed_config(choice, 1, 0.5, bf16=True, offload_optimizer=False, world_size=2)
    assert offloads_optimizer(ppo) and ppo["gradient_clipping"] == 0.5 and ppo["train_batch_size"] == 2


def test_accumulation_and_clipping_come_from_the_launcher_when_it_gives_them(launched):
    launched(accelerate_env(LAUNCHERS["8gpu"], "--gradient_accumulation_steps", "4", "--gradient_clipping", "0.5"))
    choice = deepspeed_choice(None)
    assert (choice["gradient_accumulation_steps"], choice["gradient_clipping"]) == (4, 0.5)
    assert deepspeed_label(None) == f"{PUBLISHED_LABEL}, gradient_accumulation_steps 4, gradient_clipping 0.5"
    filled = filled_deepspeed_config(choice, where="x", micro_batch=2, grad_accum=4, world_size=1, max_grad_norm=1.0,
                                     mixed_precision="no")
    assert filled["gradient_clipping"] == 0.5 and filled["train_batch_size"] == 8
    with pytest.raises(InputError, match="gradient_accumulation_steps 4, but this run accumulates 1"):
        filled_deepspeed_config(choice, where="x", micro_batch=2, grad_accum=1, world_size=1, max_grad_norm=1.0,
                                mixed_precision="no")


def test_zero3_inline_offloads_parameters_and_gathers_whole_weights(launched):
    launched(accelerate_env(LAUNCHERS["8gpu"], "--zero_stage", "3", "--offload_param_device", "cpu"))
    zero = deepspeed_choice(None)["zero_optimization"]
    assert zero["stage"] == 3 and zero["offload_param"]["device"] == "cpu"
    assert zero["stage3_gather_16bit_weights_on_model_save"] is True
    assert deepspeed_label(None) == "accelerate: zero_stage 3, offload_optimizer cpu, offload_param cpu"


@pytest.mark.parametrize("variable, value, message", [
    ("ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE", "cpu", "offload_param_device cpu needs zero_stage 3, got 2"),
    ("ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE", "nvme", "nvme needs an nvme_path"),
    ("ACCELERATE_DEEPSPEED_OFFLOAD_OPTIMIZER_DEVICE", "gpu", "must be none, cpu or nvme, got 'gpu'"),
    ("ACCELERATE_DEEPSPEED_ZERO_STAGE", "0", "offload_optimizer_device cpu needs zero_stage 1-3"),
    ("ACCELERATE_DEEPSPEED_ZERO_STAGE", "two", "zero_stage must be a whole number, got 'two'"),
    ("ACCELERATE_GRADIENT_CLIPPING", "lots", "gradient_clipping must be a number"),
])
def test_bad_inline_settings_are_named(variable, value, message, launched):
    launched({**accelerate_env(LAUNCHERS["8gpu"]), variable: value})
    with pytest.raises(InputError, match=message):
        deepspeed_choice(None)


def test_a_deepspeed_file_next_to_inline_settings_is_refused(tmp_path, launched):
    published = yaml.safe_load(LAUNCHERS["8gpu"].read_text())
    both = {**published, "deepspeed_config": {**published["deepspeed_config"], "deepspeed_config_file": "zero2.json"}}
    (tmp_path / "both.yaml").write_text(yaml.safe_dump(both))
    launched(accelerate_env(tmp_path / "both.yaml"))
    with pytest.raises(InputError, match="gives a deepspeed_config_file and zero_stage, offload_optimizer_device, "
                                         "offload_param_device"):
        deepspeed_choice(None)
    file_only = {**published, "deepspeed_config": {"deepspeed_config_file": "zero2.json", "zero3_init_flag": False}}
    (tmp_path / "file.yaml").write_text(yaml.safe_dump(file_only))
    launched(accelerate_env(tmp_path / "file.yaml"))
    assert deepspeed_choice(None) == "zero2.json" and launcher_dtype(None) == ("bf16", None)


def test_ppo_cli_refuses_bad_inline_settings_in_one_line(tmp_path, launched):
    from sftvsrl_cli.main import cli

    launched({**accelerate_env(LAUNCHERS["8gpu"]), "ACCELERATE_DEEPSPEED_OFFLOAD_PARAM_DEVICE": "cpu"})
    result = CliRunner().invoke(cli, ["ppo", "--model", "tiny-llama", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "offload_param_device cpu needs zero_stage 3" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run" / "log.jsonl").exists()


# -- mixed precision --------------------------------------------------------------------------------------------

def test_the_launchers_precision_is_the_default_and_an_explicit_dtype_wins(launched):
    launched(accelerate_env(LAUNCHERS["8gpu"]))
    assert launcher_dtype(None) == ("bf16", None)
    assert launcher_dtype("bfloat16") == ("bfloat16", None)
    assert launcher_dtype("fp32") == ("fp32", "accelerate launch asks for bf16 mixed precision; --dtype fp32 wins")
    launched(accelerate_env(LAUNCHERS["8gpu"], "--mixed_precision", "no"))
    assert launcher_dtype(None) == (None, None)  # "no" is also what accelerate exports when nothing was asked


def test_sft_cli_names_an_unsupported_launcher_precision(tmp_path, launched):
    from sftvsrl_cli.main import cli

    launched({**accelerate_env(LAUNCHERS["8gpu"]), "ACCELERATE_MIXED_PRECISION": "fp8"})
    result = CliRunner().invoke(cli, ["sft", "--data", str(tmp_path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "mixed_precision fp8 is not supported" in result.output
    assert "Traceback" not in result.output


# -- the published SFT DeepSpeed file ---------------------------------------------------------------------------

def test_published_sft_file_sections_go_to_the_trainer_and_the_rest_to_deepspeed(launched):
    from deepspeed.runtime.config import DeepSpeedConfig
    from transformers import LlamaConfig, MllamaConfig

    launched({})
    raw, where = read_deepspeed_config(str(SFT_DEEPSPEED_FILE))
    rest, sections = split_hf_sections(raw)
    assert where == str(SFT_DEEPSPEED_FILE) and sections == {"optimizer": raw["optimizer"],
                                                             "scheduler": raw["scheduler"]}
    assert (sections["optimizer"]["type"], sections["scheduler"]["type"]) == ("AdamW", "WarmupLR")
    assert not set(rest) & {"optimizer", "scheduler"}
    filled = filled_deepspeed_config(rest, where=where, micro_batch=2, grad_accum=1, world_size=1,
                                     max_grad_norm=1.0, mixed_precision="bf16")
    plugin = deepspeed_plugin(filled)
    accelerator = SimpleNamespace(state=SimpleNamespace(deepspeed_plugin=plugin))
    vision = MllamaConfig(text_config={"hidden_size": 64})  # no top-level hidden size: the text model's
    fill_model_sized_values(accelerator, vision)
    zero = plugin.deepspeed_config["zero_optimization"]
    assert (zero["reduce_bucket_size"], zero["stage3_prefetch_bucket_size"],
            zero["stage3_param_persistence_threshold"]) == (64 * 64, int(0.9 * 64 * 64), 640)
    accepted = DeepSpeedConfig(plugin.deepspeed_config)  # DeepSpeed 0.19.8 takes every other published key
    assert accepted.zero_optimization_stage == 3 and accepted.zero_config.sub_group_size == 10**9
    assert accepted.zero_config.gather_16bit_weights_on_model_save and accepted.bfloat16_config.enabled
    assert accepted.zero_config.offload_optimizer.device == "cpu"
    fill_model_sized_values(accelerator, LlamaConfig(hidden_size=32))  # filled once; numbers stay
    assert zero["reduce_bucket_size"] == 64 * 64
    plugin.deepspeed_config["zero_optimization"]["reduce_bucket_size"] = "auto"
    with pytest.raises(InputError, match="no hidden size to fill .* reduce_bucket_size"):
        fill_model_sized_values(accelerator, SimpleNamespace())


def test_ppo_keeps_refusing_the_sections():
    with pytest.raises(InputError, match="remove the 'optimizer'/'scheduler' sections; sftvsrl ppo builds Adam"):
        check_deepspeed_choice(str(SFT_DEEPSPEED_FILE), offload_optimizer=False, eval_every=0)


# -- accelerate launch with the published YAML files -----------------------------------------------------------

@pytest.fixture(scope="module")
def gp_l_data(tmp_path_factory) -> Path:
    from sftvsrl_cli.main import cli

    folder = tmp_path_factory.mktemp("gp-l") / "data"
    result = CliRunner().invoke(cli, ["gen-data", "--task", "gp-l", "--num", "64", "--seed", "0", "--out", str(folder)])
    assert result.exit_code == 0, result.output
    return folder


def _accelerate_launch(yaml_file: Path, processes: int, cwd: Path, *command: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ACCELERATE_")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(yaml_file),
              "--num_processes", str(processes), "--main_process_port", str(_free_port()), "-m", "sftvsrl_cli"]
    return subprocess.run([*launch, *command], cwd=cwd, env=env, capture_output=True, text=True, timeout=400)


def _shard_configs(folder: Path) -> list[dict]:
    """The DeepSpeed config each rank's ZeRO optimizer shard under `folder` was trained with."""
    from deepspeed.runtime.fp16.loss_scaler import DynamicLossScaler, LossScaler
    from deepspeed.runtime.zero.config import ZeroStageEnum
    from deepspeed.utils.tensor_fragment import fragment_address

    shards = sorted(folder.rglob("*zero_pp_rank_*_optim_states.pt"))
    with torch.serialization.safe_globals([ZeroStageEnum, fragment_address, LossScaler, DynamicLossScaler]):
        return [torch.load(shard, weights_only=True)["ds_config"] for shard in shards]


@pytest.mark.slow
@pytest.mark.timeout(480)
@pytest.mark.parametrize("name, processes", [("8gpu", 2), ("1gpu", 1)], ids=["8gpu-yaml-2-ranks", "1gpu-yaml"])
def test_sft_under_the_published_launcher_config(name, processes, gp_l_data, tmp_path):
    out = tmp_path / "sft"
    result = _accelerate_launch(LAUNCHERS[name], processes, tmp_path, "sft", "--model", "tiny-llama", "--data",
                                str(gp_l_data), "--out", str(out), "--max-steps", "2", "--batch-size", "2")
    assert result.returncode == 0, result.stderr[-4000:]
    assert (out / "final" / "model.safetensors").is_file()
    summary = json.loads((out / "final" / "sft_summary.json").read_text())
    assert summary["deepspeed"] == PUBLISHED_LABEL and summary["world_size"] == processes
    assert summary["precision"] == "bf16" and summary["steps"] == 2
    shards = _shard_configs(out / "checkpoint-2")
    assert len(shards) == processes
    assert all(s["zero_optimization"]["stage"] == 2 and s["zero_optimization"]["offload_optimizer"]["device"] == "cpu"
               for s in shards)


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_ppo_under_the_published_launcher_config(tmp_path):
    from trainers.ppo.checkpoint import latest_checkpoint
    from trainers.ppo.run_log import read_log

    out = tmp_path / "ppo"
    result = _accelerate_launch(LAUNCHERS["8gpu"], 2, tmp_path, "ppo", "--model", "tiny-llama", "--out", str(out),
                                *TINY_RUN, "--num_updates=1")
    assert result.returncode == 0, result.stderr[-4000:]
    record = read_log(out / "log.jsonl")[0]
    assert record["world_size"] == 2 and record["env_steps"] == 8
    run = yaml.safe_load((out / "config.yaml").read_text())["ppo_run"]
    assert run["deepspeed"] == PUBLISHED_LABEL and run["dtype"] == "bf16"
    shards = _shard_configs(latest_checkpoint(out) / "deepspeed")
    assert len(shards) == 2 and all(s["zero_optimization"]["offload_optimizer"]["device"] == "cpu" for s in shards)
