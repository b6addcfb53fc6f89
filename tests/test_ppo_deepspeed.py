"""PPO under DeepSpeed: two CPU ranks (gloo) run one update through the CLI for ZeRO-2 and ZeRO-3, with and
without optimizer offload, and stay in sync; the packaged configs are found by name from any directory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from tests.ppo_helpers import TINY_RUN
from trainers.ppo.checkpoint import latest_checkpoint
from trainers.ppo.deepspeed_setup import check_deepspeed_choice, deepspeed_config, make_optimizer, offloads_optimizer
from trainers.ppo.run_log import read_log
from trainers.sft.distributed import DEEPSPEED_CONFIGS, resolve_deepspeed_file

ROOT = Path(__file__).resolve().parent.parent
ACCELERATE_CONFIGS = ROOT / "sftvsrl_cli" / "configs" / "accelerate"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_packaged_config_filled_for_ppo():
    config = deepspeed_config("zero2", grad_accum_steps=4, max_grad_norm=0.5, bf16=True, offload_optimizer=True,
                              world_size=8, parameters=3_500_000)
    zero = config["zero_optimization"]
    assert zero["stage"] == 2 and offloads_optimizer(config)
    assert config["train_batch_size"] == 32 and config["gradient_accumulation_steps"] == 4
    assert config["gradient_clipping"] == 0.5 and config["bf16"] == {"enabled": True}
    assert zero["reduce_bucket_size"] == 4_000_000  # capped at the model, rounded up to 1M elements
    assert not any(value == "auto" for value in config.values())
    stage3 = deepspeed_config("zero3_offload", 1, 1.0, False, False)
    assert stage3["zero_optimization"]["stage"] == 3 and offloads_optimizer(stage3)
    assert not offloads_optimizer(deepspeed_config("zero3", 1, 1.0, False, False))


def test_offload_uses_deepspeed_cpu_adam():
    from deepspeed.ops.adam import DeepSpeedCPUAdam

    weight = torch.nn.Parameter(torch.ones(3))
    plain = make_optimizer([{"params": [weight]}], lr=0.1, eps=1e-8, weight_decay=0.0, offload=False)
    offloaded = make_optimizer([{"params": [weight]}], lr=0.1, eps=1e-8, weight_decay=0.0, offload=True)
    assert type(plain) is torch.optim.Adam and isinstance(offloaded, DeepSpeedCPUAdam)


def test_gradient_checkpointing_on_by_default_only_for_big_models(monkeypatch):
    from transformers import LlamaConfig, LlamaForCausalLM

    import trainers.ppo.engine as engine

    def small():
        return LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                            num_attention_heads=2))

    model = small()
    assert engine.apply_gradient_checkpointing(model, None) is False and not model.is_gradient_checkpointing
    assert engine.apply_gradient_checkpointing(model, True) is True and model.is_gradient_checkpointing
    monkeypatch.setattr(engine, "GRADIENT_CHECKPOINTING_ABOVE", 1000)  # as if the model were over ~1B
    bigger = small()
    assert engine.apply_gradient_checkpointing(bigger, None) is True and bigger.is_gradient_checkpointing
    assert engine.apply_gradient_checkpointing(small(), False) is False


def test_bad_choices_are_input_errors(tmp_path):
    from envs.errors import InputError

    with pytest.raises(InputError, match="packaged: zero2, zero2_offload, zero3, zero3_offload"):
        check_deepspeed_choice("zero9", False, 0)
    with pytest.raises(InputError, match="ZeRO-3"):
        check_deepspeed_choice("zero3", False, 5)
    stage0 = tmp_path / "stage0.json"
    stage0.write_text(json.dumps({"zero_optimization": {"stage": 0}}))
    with pytest.raises(InputError, match="stage 1-3"):
        check_deepspeed_choice(str(stage0), True, 0)
    assert check_deepspeed_choice("zero2_offload", False, 3) == 2


@pytest.mark.parametrize("yaml_file", sorted(ACCELERATE_CONFIGS.glob("*.yaml")), ids=lambda p: p.stem)
def test_accelerate_yaml_config_found_from_any_directory(yaml_file, tmp_path, monkeypatch):
    """What `accelerate launch --config_file <yaml>` exports reaches the packaged DeepSpeed file from elsewhere."""
    name = yaml.safe_load(yaml_file.read_text())["deepspeed_config"]["deepspeed_config_file"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_CONFIG_FILE", name)
    found = resolve_deepspeed_file(None)
    assert found is not None and found.parent == DEEPSPEED_CONFIGS and found.is_file()
    # An old repository-relative spelling works from elsewhere too.
    assert resolve_deepspeed_file("sftvsrl_cli/configs/deepspeed/zero3.json") == DEEPSPEED_CONFIGS / "zero3.json"


def _two_ranks(out: Path, deepspeed: str, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "SFTVSRL_CACHE_DIR":
           os.environ.get("SFTVSRL_CACHE_DIR", str(Path.home() / ".cache" / "sftvsrl"))}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
               "-m", "sftvsrl_cli", "ppo", "--model", "tiny-llama", "--deepspeed", deepspeed, "--out", str(out),
               *extra, *TINY_RUN, "--num_updates=1"]
    return subprocess.run(command, cwd=out.parent, env=env, capture_output=True, text=True, timeout=1100)


def _check_update(out: Path) -> Path:
    records = read_log(out / "log.jsonl")
    assert len(records) == 1
    record = records[0]
    assert record["world_size"] == 2
    assert record["env_steps"] == 8  # 4 env steps per rank, gathered from both
    assert record["optimizer_steps"] >= 1
    checkpoint = latest_checkpoint(out)
    assert checkpoint is not None and (checkpoint / "deepspeed").is_dir()
    # Each rank draws its own episodes.
    workers = [json.loads((checkpoint / f"episodes_rank{r}.json").read_text()) for r in (0, 1)]
    assert workers[0]["seed_stream"] != workers[1]["seed_stream"]
    return checkpoint


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("deepspeed, extra", [
    ("zero2", ()),
    ("zero2", ("--offload-optimizer", "--gradient-checkpointing", "--ppo_config.critic_warmup_epochs=2")),
], ids=["zero2", "zero2-offload-gc-warmup"])
def test_two_rank_zero2_update(tmp_path, deepspeed, extra):
    out = tmp_path / "run"
    result = _two_ranks(out, deepspeed, *extra)
    assert result.returncode == 0, result.stderr[-4000:]
    checkpoint = _check_update(out)
    ranks = [torch.load(checkpoint / f"rng_rank{r}.pt", weights_only=True) for r in (0, 1)]
    assert ranks[0]["param_checksum"] == ranks[1]["param_checksum"]
    if "--ppo_config.critic_warmup_epochs=2" in extra:
        assert read_log(out / "log.jsonl")[0]["critic_warmup_loss"] is not None


@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("deepspeed", ["zero3", "zero3_offload"])
def test_two_rank_zero3_update(tmp_path, deepspeed):
    """ZeRO-3 shards the weights: generation stays in step across ranks, the critic warm-up writes the gathered
    value head back, and the checkpoint holds the weights whole."""
    from transformers import AutoModelForCausalLM

    out = tmp_path / "run"
    result = _two_ranks(out, deepspeed, "--ppo_config.critic_warmup_epochs=2")
    assert result.returncode == 0, result.stderr[-4000:]
    checkpoint = _check_update(out)
    assert read_log(out / "log.jsonl")[0]["critic_warmup_loss"] is not None
    saved = AutoModelForCausalLM.from_pretrained(checkpoint / "policy")
    embedding = saved.get_input_embeddings().weight
    assert embedding.shape[1] == 256 and embedding.abs().sum() > 0
    value_head = torch.load(checkpoint / "value_head.pt", weights_only=True)
    assert all(tensor.numel() > 0 for tensor in value_head.values())


@pytest.mark.parametrize("args, message", [
    (["--deepspeed", "zero9"], "packaged: zero2, zero2_offload, zero3, zero3_offload"),
    (["--deepspeed", "zero3", "--eval-every", "2"], "not supported under ZeRO-3"),
])
def test_cli_refuses_a_bad_deepspeed_choice_before_loading(tmp_path, args, message):
    from click.testing import CliRunner

    from sftvsrl_cli.main import cli

    result = CliRunner().invoke(cli, ["ppo", "--model", "tiny-llama", "--out", str(tmp_path / "run"), *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run" / "log.jsonl").exists()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_accelerate_launch_with_the_packaged_yaml_from_elsewhere(tmp_path):
    """`accelerate launch --config_file <packaged yaml>` run from outside the repository: PPO picks up the
    YAML's DeepSpeed file (zero2_offload) by name."""
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "accelerate.commands.launch",
               "--config_file", str(ACCELERATE_CONFIGS / "zero2_offload_1node_8gpu.yaml"), "--num_processes", "2",
               "--main_process_port", str(_free_port()), "-m", "sftvsrl_cli", "ppo", "--model", "tiny-llama",
               "--out", str(out), *TINY_RUN, "--num_updates=1"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=800)
    assert result.returncode == 0, result.stderr[-4000:]
    _check_update(out)
    recorded = yaml.safe_load((out / "config.yaml").read_text())["ppo_run"]["deepspeed"]
    assert recorded == str(DEEPSPEED_CONFIGS / "zero2_offload.json")  # the file used, found by name
