"""`sftvsrl plan`: per-GPU memory for Llama-3.2-11B-Vision, checked against figures computed by hand from the
ZeRO paper's accounting (2 + 2 + 12 bytes per parameter, partitioned per stage)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from trainers.memory_plan import GIB, Layout, ModelShape, plan, value_head_parameters

FIXTURE = Path(__file__).parent / "fixtures" / "llama-3.2-11b-vision"
# The published checkpoint's model.safetensors.index.json: total_size 21,340,441,670 bytes of bf16.
PSI = 21_340_441_670 // 2
SHAPE = ModelShape(parameters=PSI, hidden_size=4096, num_layers=40, vocab_size=128256, num_kv_heads=8, head_dim=128)
S, H, L, V = 2048, 4096, 40, 128256


def test_value_head_is_the_published_4096_1024_512_1_mlp():
    assert value_head_parameters(4096) == 4096 * 1024 + 1024 + 1024 * 512 + 512 + 512 + 1


def test_ppo_eight_gpus_zero2_offload_as_in_the_paper():
    trained = PSI + 4_720_641  # the value head is trained with the policy; there is no reference model
    result = plan(SHAPE, Layout(kind="ppo", world_size=8, zero_stage=2, offload_optimizer=True, max_length=S,
                                gradient_checkpointing=True))
    assert result["trained_parameters"] == trained
    assert result["weights"] == 2 * trained == 21_349_882_952
    assert result["gradients"] == 2 * trained // 8 == 2_668_735_369
    assert result["optimizer"] == 0
    assert result["cpu_offloaded"] == 12 * trained // 8 + 4 * trained // 8
    # checkpointed layer inputs + one layer recomputed + fp32 logits and log-softmax
    assert result["activations"] == 2 * S * H * L + 34 * S * H + 8 * S * V == 3_057_647_616
    assert result["rollout_kv_cache"] == 2 * L * 8 * 128 * S * 2 == 335_544_320
    assert result["total"] == 21_349_882_952 + 2_668_735_369 + 3_057_647_616
    assert result["fits"] and result["usable"] == int(80 * GIB * 0.9)


def test_sft_one_gpu_without_zero_does_not_fit():
    result = plan(SHAPE, Layout(kind="sft", world_size=1, zero_stage=0, max_length=S))
    assert result["weights"] + result["gradients"] + result["optimizer"] == 16 * PSI == 170_723_533_360
    assert result["activations"] == 34 * S * H * L + 8 * S * V
    assert "rollout_kv_cache" not in result and not result["fits"]


@pytest.mark.parametrize("stage, weights, grads, optimizer", [
    (1, 2 * PSI, 2 * PSI, 12 * PSI // 16),
    (2, 2 * PSI, 2 * PSI // 16, 12 * PSI // 16),
    (3, 2 * PSI // 16, 2 * PSI // 16, 12 * PSI // 16),
])
def test_zero_stages_partition_as_the_paper(stage, weights, grads, optimizer):
    result = plan(SHAPE, Layout(kind="sft", world_size=16, zero_stage=stage, max_length=S, batch_size=2,
                                gradient_checkpointing=True, gpu_memory=141 * GIB))
    assert (result["weights"], result["gradients"], result["optimizer"]) == (weights, grads, optimizer)
    assert result["activations"] == 2 * 2 * S * H * L + 34 * 2 * S * H + 8 * 2 * S * V


def test_offload_needs_a_zero_stage():
    with pytest.raises(ValueError, match="stage 1-3"):
        plan(SHAPE, Layout(zero_stage=0, offload_optimizer=True))


@pytest.mark.slow
def test_cli_reads_the_config_without_weights():
    from sftvsrl_cli.main import cli

    result = CliRunner().invoke(cli, ["plan", "ppo", "--model", str(FIXTURE / "config.json"), "--world-size", "8",
                                      "--zero", "3", "--gpu-memory", "80GiB", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["parameters"] == PSI  # counted on an empty model built from config.json
    assert summary["gradient_checkpointing"] is True  # default above ~1B parameters
    trained = PSI + value_head_parameters(4096)
    assert summary["weights"] == 2 * trained // 8 and summary["optimizer"] == 12 * trained // 8
    bad = CliRunner().invoke(cli, ["plan", "sft", "--model", str(FIXTURE), "--gpu-memory", "lots"])
    assert bad.exit_code == 2 and "--gpu-memory" in bad.output
