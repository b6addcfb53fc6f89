"""`sftvsrl sft` runs the published SFT script: its flags as written, its image folder, its per-part learning
rates and frozen parts, tf32, weights-only checkpoints, and its DeepSpeed file's optimizer / scheduler sections."""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner

from envs.errors import InputError
from sftvsrl_cli.main import cli
from sftvsrl_cli.published_sft_flags import translate_published_flags
from trainers.config.schema import SFTConfig
from trainers.sft.data import SFTDataError, load_sft_data
from trainers.sft.deepspeed_sections import apply_optimizer_section, schedule_from_section
from trainers.sft.setup import component_of, freeze, parameter_groups
from trainers.sft.train import _set_tf32, train_sft

from test_sft import write_gp

PUBLISHED = Path(__file__).resolve().parent / "published"


def published_script_flags() -> list[str]:
    """The flags of the published gp_l.sh launch line (everything after `train.py`)."""
    text = (PUBLISHED / "sft_gp_l.sh").read_text()
    command = " ".join(line.rstrip("\\").strip() for line in text.splitlines() if not line.startswith("#"))
    words = shlex.split(command)
    return words[words.index("src/training/train.py") + 1:]


def with_paths(flags: list[str], **paths: str) -> list[str]:
    """`flags` with the value of each `--name` in `paths` replaced (a researcher changes only the paths)."""
    flags = list(flags)
    for name, value in paths.items():
        flags[flags.index(f"--{name}") + 1] = value
    return flags


@pytest.fixture(scope="module")
def gp_l_small(tmp_path_factory) -> Path:
    return write_gp(tmp_path_factory.mktemp("gp-l-small"), 20)


# -- the published script's flags -----------------------------------------------------------------------------

def test_published_script_runs_with_only_its_paths_changed(gp_l_small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flags = with_paths(published_script_flags(), model_id="tiny-llama", data_path=str(gp_l_small),
                       output_dir=str(tmp_path / "out"))
    deepspeed = flags.index("--deepspeed")
    del flags[deepspeed:deepspeed + 2]  # the published ZeRO-3 offload file runs in the slow test below
    result = CliRunner().invoke(cli, ["sft", *flags, "--max_steps", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "final" / "sft_summary.json").read_text())
    settings = summary["settings"]
    assert settings["learning_rate"] == 1e-6 and settings["projector_lr"] == 1e-6 and settings["vision_lr"] == 1e-6
    assert settings["per_device_batch_size"] == 16 and settings["grad_accum_steps"] == 1
    assert settings["num_epochs"] == 1 and settings["warmup_ratio"] == 0.03 and settings["lr_scheduler"] == "cosine"
    assert settings["weight_decay"] == 0 and settings["gradient_checkpointing"] is True
    assert settings["save_every"] == 20 and settings["save_total_limit"] == 20 and settings["log_every"] == 1
    assert settings["save_only_model"] is True and settings["report_to"] == [] and settings["image_folder"] == "./"
    assert not settings["lora"] and not settings["freeze_llm"] and not settings["freeze_projector"]
    assert summary["steps"] == 2 and len((tmp_path / "out" / "train_log.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("args, expected", [
    (["--lora_enable", "True", "--freeze_llm=false"], ["--lora"]),
    (["--lora_enable=False", "--tune_img_projector", "False"], ["--full", "--freeze-projector"]),
    (["--gradient_checkpointing", "--bf16", "True"], ["--gradient-checkpointing", "--dtype", "bf16"]),
    (["--tf32", "0", "--save_only_model", "yes"], ["--no-tf32", "--save-only-model"]),
    (["--learning_rate=2e-5", "--warmup_ratio", "0.1"], ["--lr", "2e-5", "--sft_config.warmup_ratio=0.1"]),
    (["--lazy_preprocess", "True", "--save_strategy", "steps", "--lr", "3"], ["--lr", "3"]),
])
def test_published_flags_become_sftvsrl_options(args, expected):
    assert translate_published_flags(args) == expected


@pytest.mark.parametrize("args, message", [
    (["--freeze_llm", "maybe"], "--freeze_llm takes True or False"),
    (["--save_strategy", "epoch"], "--save_strategy epoch is not supported"),
    (["--learning_rate"], "--learning_rate requires a value"),
])
def test_bad_published_flags_are_named(args, message):
    with pytest.raises(click.UsageError, match=message):
        translate_published_flags(args)


def test_cli_refuses_a_bad_published_flag_in_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["sft", "--data_path", str(tmp_path), "--save_strategy", "no"])
    assert result.exit_code == 2 and "--save_strategy no is not supported" in result.output
    assert "Traceback" not in result.output


# -- image folder ------------------------------------------------------------------------------------------------

def test_image_paths_start_from_the_image_folder(tmp_path, monkeypatch):
    from PIL import Image

    (tmp_path / "pictures" / "gp").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "pictures" / "gp" / "0.png")
    (tmp_path / "data").mkdir()
    record = {"id": "0", "image": "gp/0.png", "conversations": [{"from": "human", "value": "<image>\nHi"},
                                                                {"from": "gpt", "value": "Hello"}]}
    (tmp_path / "data" / "data.json").write_text(json.dumps([record]))
    with pytest.raises(SFTDataError, match="image file not found"):
        load_sft_data(tmp_path / "data")
    examples = load_sft_data(tmp_path / "data", image_folder=tmp_path / "pictures")
    assert examples[0].images == [(tmp_path / "pictures" / "gp" / "0.png").resolve()]
    monkeypatch.chdir(tmp_path / "pictures")  # the published default `./`: the working directory
    assert load_sft_data(tmp_path / "data", image_folder="./")[0].images == examples[0].images
    with pytest.raises(SFTDataError, match="not a folder"):
        load_sft_data(tmp_path / "data", image_folder=tmp_path / "missing")


# -- per-part rates and freezing ---------------------------------------------------------------------------------

class _VisionLanguageModel(torch.nn.Module):
    """The module names of a Llama-3.2-Vision-like model, nothing more."""

    def __init__(self):
        super().__init__()
        self.vision_model = torch.nn.Linear(2, 2)
        self.language_model = torch.nn.Linear(2, 2)
        self.multi_modal_projector = torch.nn.Linear(2, 2)
        self.lm_head = torch.nn.Linear(2, 2)


def test_each_part_trains_at_its_own_rate():
    model = _VisionLanguageModel()
    assert [component_of(n) for n, _ in model.named_parameters()][::2] == ["vision", "llm", "projector", "llm"]
    assert component_of("visual.merger.mlp.0.weight") == "projector"
    groups, notes = parameter_groups(model, SFTConfig(learning_rate=1e-6, projector_lr=1e-5, vision_lr=2e-6))
    by_rate = {group["lr"]: group["params"] for group in groups}
    assert list(by_rate) == [1e-6, 2e-6, 1e-5] and not notes
    assert by_rate[1e-6] == [*model.language_model.parameters(), *model.lm_head.parameters()]
    assert by_rate[1e-5] == list(model.multi_modal_projector.parameters())
    assert by_rate[2e-6] == list(model.vision_model.parameters())
    same, _ = parameter_groups(model, SFTConfig(learning_rate=1e-6, projector_lr=1e-6))
    assert len(same) == 1 and same[0]["params"] == list(model.parameters())  # one group, the model's order


def test_freeze_llm_leaves_the_vision_side_trainable_and_rates_for_missing_parts_are_noted():
    model = _VisionLanguageModel()
    assert freeze(model, vision_tower=False, projector=False, llm=True) == ["language model"]
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"vision_model", "multi_modal_projector"}
    text_only = torch.nn.Sequential(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="no vision tower or projector"):
        freeze(text_only, vision_tower=False, projector=False, llm=True)
    _, notes = parameter_groups(text_only, SFTConfig(learning_rate=1e-6, vision_lr=1e-7))
    assert notes == ["--vision-lr 1e-07 applies to nothing: no trainable vision tower"]


def test_freeze_llm_with_lora_is_refused(gp_l_small, tmp_path):
    result = CliRunner().invoke(cli, ["sft", "--data", str(gp_l_small), "--out", str(tmp_path / "out"),
                                      "--lora", "--freeze-llm"])
    assert result.exit_code == 2 and "--freeze-llm with --lora" in result.output


def test_tf32_sets_torch_flags():
    before = torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision
    try:
        _set_tf32(True)
        assert torch.backends.cuda.matmul.fp32_precision == "tf32" == torch.backends.cudnn.conv.fp32_precision
        _set_tf32(False)
        assert torch.backends.cuda.matmul.fp32_precision == "ieee"
        _set_tf32(None)
        assert torch.backends.cuda.matmul.fp32_precision == "ieee"
    finally:
        torch.backends.cuda.matmul.fp32_precision, torch.backends.cudnn.conv.fp32_precision = before


# -- small data and weights-only checkpoints ------------------------------------------------------------------

def test_data_smaller_than_a_batch_trains_with_max_steps_only(gp_l_small, tmp_path):
    with pytest.raises(ValueError, match="give --max-steps"):
        train_sft(SFTConfig(per_device_batch_size=32, num_epochs=1), model="tiny-llama", data=str(gp_l_small),
                  output_dir=tmp_path / "a", seed=0)
    result = train_sft(SFTConfig(per_device_batch_size=32, max_steps=2), model="tiny-llama", data=str(gp_l_small),
                       output_dir=tmp_path / "b", seed=0)
    summary = json.loads((result.final_dir / "sft_summary.json").read_text())
    assert result.steps == 2 and summary["record_repeats"] == 2 and summary["steps_per_epoch"] == 1


def test_weights_only_checkpoints_load_but_do_not_resume(gp_l_small, tmp_path):
    from trainers.models import load_model

    out = tmp_path / "out"
    args = ["sft", "--data", str(gp_l_small), "--out", str(out), "--max-steps", "2", "--batch-size", "8",
            "--save-every", "1", "--save-only-model"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    checkpoint = out / "checkpoint-1"
    assert not (checkpoint / "state").exists() and load_model(str(checkpoint)).model is not None
    result = CliRunner().invoke(cli, [*args[:-1], "--resume"])
    assert result.exit_code == 2 and "written with --save-only-model" in result.output
    assert (out / "final").is_dir()  # nothing was discarded


# -- the DeepSpeed file's optimizer and scheduler sections ------------------------------------------------------

def _deepspeed_lrs(scheduler_class, steps: int, **params) -> list[float]:
    """The learning rate DeepSpeed's engine uses at each optimizer step with this scheduler."""
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([parameter], lr=params.get("warmup_max_lr", 1.0))
    scheduler = scheduler_class(optimizer, **params)
    used = []
    for _ in range(steps):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return used


@pytest.mark.parametrize("section, total", [
    ({"type": "WarmupLR", "params": {"warmup_min_lr": "auto", "warmup_max_lr": "auto", "warmup_num_steps": "auto"}},
     200),
    ({"type": "WarmupLR", "params": {"warmup_num_steps": 5, "warmup_type": "linear", "warmup_min_lr": 1e-7}}, 12),
    ({"type": "WarmupDecayLR", "params": {"total_num_steps": "auto", "warmup_num_steps": 4}}, 15),
])
def test_scheduler_section_matches_deepspeed_step_for_step(section, total):
    from deepspeed.runtime import lr_schedules

    lr = 2e-5
    schedule = schedule_from_section(section, learning_rate=lr, warmup_ratio=0.03, total_steps=total)
    params = {k: v for k, v in section["params"].items() if v != "auto"}
    params.setdefault("warmup_num_steps", math.ceil(0.03 * total))
    params.setdefault("warmup_max_lr", lr)
    if section["type"] == "WarmupDecayLR":
        params["total_num_steps"] = total
    expected = _deepspeed_lrs(getattr(lr_schedules, section["type"]), total, **params)
    assert [schedule.lr(step) for step in range(total)] == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_unsupported_sections_are_named_and_explicit_optimizer_values_win():
    with pytest.raises(InputError, match="scheduler type 'OneCycle'"):
        schedule_from_section({"type": "OneCycle"}, learning_rate=1e-6, warmup_ratio=0.03, total_steps=10)
    with pytest.raises(InputError, match="optimizer type 'Lamb'"):
        apply_optimizer_section({"type": "Lamb"}, SFTConfig())
    published = json.loads((PUBLISHED / "sft_zero3_offload.json").read_text())["optimizer"]
    assert apply_optimizer_section(published, SFTConfig(learning_rate=1e-6)) == SFTConfig(learning_rate=1e-6)
    explicit = apply_optimizer_section({"type": "AdamW", "params": {"lr": 3e-5, "betas": [0.8, 0.9], "eps": "auto"}},
                                       SFTConfig())
    assert (explicit.learning_rate, explicit.adam_beta1, explicit.adam_beta2, explicit.adam_eps) == (3e-5, 0.8, 0.9,
                                                                                                    1e-7)


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_freeze_llm_trains_only_the_vision_side_at_its_rates(tmp_path):
    from safetensors.torch import load_file

    from trainers.models import load_model

    data = write_gp(tmp_path / "vl", 8, "messages", language_only=False)
    settings = SFTConfig(max_steps=2, per_device_batch_size=4, learning_rate=1e-3, freeze_llm=True,
                         vision_lr=1e-4, projector_lr=1e-2)
    result = train_sft(settings, model="tiny-mllama", data=str(data), output_dir=tmp_path / "out", seed=0)
    after = load_file(str(result.final_dir / "model.safetensors"))
    before = load_file(str(Path(load_model("tiny-mllama").path) / "model.safetensors"))
    language = [k for k in before if component_of(k) == "llm"]
    vision = [k for k in before if component_of(k) == "vision"]
    projector = [k for k in before if component_of(k) == "projector"]
    assert language and all(torch.equal(after[k], before[k]) for k in language)
    assert any(not torch.equal(after[k], before[k]) for k in vision)
    assert any(not torch.equal(after[k], before[k]) for k in projector)
    summary = json.loads((result.final_dir / "sft_summary.json").read_text())
    assert summary["lr_groups"] == [1e-4, 1e-2]  # the model's order: vision tower, then projector
    # Compute: the 8 records once (2 steps of 4), each image adding one tile's patch tokens, as PPO counts it.
    from trainers.models.families import image_tokens_per_image
    from trainers.sft.batches import EncodedSFTData

    loaded = load_model("tiny-mllama")
    dataset = EncodedSFTData(loaded, load_sft_data(data), 4096, "data")
    text = sum(int(dataset[i]["input_ids"].shape[0]) for i in range(len(dataset)))
    assert summary["tokens"] == text + 8 * image_tokens_per_image(loaded.model.config) and text > 0


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_published_deepspeed_file_runs_its_warmup_schedule(gp_l_small, tmp_path):
    """The published zero3_offload.json as it is: ZeRO-3 with offload on one CPU process, and the learning
    rate of each step is DeepSpeed's WarmupLR (log warm-up to --lr, then constant), not cosine."""
    from deepspeed.runtime.lr_schedules import WarmupLR

    steps = 40  # warm-up ceil(0.03 x 40) = 2 steps
    result = CliRunner().invoke(cli, ["sft", "--model", "tiny-llama", "--data", str(gp_l_small), "--out",
                                      str(tmp_path / "out"), "--deepspeed", str(PUBLISHED / "sft_zero3_offload.json"),
                                      "--max-steps", str(steps), "--batch-size", "4", "--lr", "1e-4",
                                      "--log-every", "1"])
    assert result.exit_code == 0, result.output
    assert "WarmupLR" in result.output
    used = [json.loads(line)["lr"] for line in (tmp_path / "out" / "train_log.jsonl").read_text().splitlines()]
    assert used == pytest.approx(_deepspeed_lrs(WarmupLR, steps, warmup_min_lr=0, warmup_max_lr=1e-4,
                                                warmup_num_steps=2), rel=1e-9, abs=1e-15)
    summary = json.loads((tmp_path / "out" / "final" / "sft_summary.json").read_text())
    assert summary["schedule"].startswith("DeepSpeed WarmupLR") and "sft_zero3_offload.json" in summary["deepspeed"]
