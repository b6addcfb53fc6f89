"""The built-in tiny model's SFT initialisation (the SFT trainer, loss on the final answer): built once,
atomically and deterministically, loadable, then reused."""

from __future__ import annotations

import json

import pytest

from envs.general_points.config import GeneralPointsConfig
from trainers.ppo.init_model import TinyInitRecipe, build_tiny_init, init_folder, init_sft_config


def test_tiny_init_is_built_once_and_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("SFTVSRL_CACHE_DIR", str(tmp_path))
    env = GeneralPointsConfig()
    recipe = TinyInitRecipe(records=8, steps=3, batch_size=4)
    folder = init_folder("tiny-llama", env, recipe)
    assert str(folder).startswith(str(tmp_path)) and "gp-l" in folder.name
    build_tiny_init(folder, env, recipe)
    meta = json.loads((folder / "init.json").read_text())
    assert meta["train_tokens"] > 0 and meta["train_flops"] > 0
    assert not list(folder.parent.glob(".*building*"))
    stamp = (folder / "init.json").stat().st_mtime_ns
    build_tiny_init(folder, env, recipe)  # cached: not rebuilt
    assert (folder / "init.json").stat().st_mtime_ns == stamp

    from trainers.models.loader import load_model

    loaded = load_model(str(folder))
    assert loaded.tokenizer.chat_template and not loaded.is_vision


def test_init_records_do_not_depend_on_the_runs_verify_iter():
    """One cached init serves runs of any verify_iter, so its records must not change with it."""
    from trainers.ppo.init_model import init_records

    recipe = TinyInitRecipe(records=20)
    single = init_records(GeneralPointsConfig(verify_iter=1), recipe, None)
    five = init_records(GeneralPointsConfig(verify_iter=5), recipe, None)
    assert [r.turns for r in single] == [r.turns for r in five]
    attempts = {(len(r.turns) - 2) // 2 for r in single}
    assert 0 in attempts and max(attempts) > 1


@pytest.mark.slow
def test_tiny_init_is_deterministic_and_learns(tmp_path):
    """The same recipe gives the same weights (wherever and by whichever process it is built) and its loss
    falls; the staging folder keeps nothing but the model and init.json."""
    from safetensors.torch import load_file

    env = GeneralPointsConfig()
    recipe = TinyInitRecipe(records=32, steps=16, batch_size=8, learning_rate=3e-3)
    first, second = tmp_path / "a" / "init", tmp_path / "b" / "init"
    build_tiny_init(first, env, recipe)
    build_tiny_init(second, env, recipe)
    a, b = load_file(str(first / "model.safetensors")), load_file(str(second / "model.safetensors"))
    assert a.keys() == b.keys() and all(a[k].equal(b[k]) for k in a)
    meta = json.loads((first / "init.json").read_text())
    assert meta == json.loads((second / "init.json").read_text())
    assert meta["final_loss"] < 0.7 * meta["first_loss"]
    assert not (first / "data").exists() and not (first / "train").exists()
    summary = json.loads((first / "sft_summary.json").read_text())
    assert summary["settings"]["loss_on"] == "final" and summary["steps"] == recipe.steps
    assert meta["train_flops"] == summary["flops"] > 0


def test_init_schedule_matches_the_recipe():
    """10 warmup steps, then linear decay to 0 at the last step, as the init has always trained."""
    import math

    from trainers.sft.setup import lr_lambda

    for steps in (3, 20, 400):
        sft = init_sft_config(TinyInitRecipe(steps=steps))
        warmup = math.ceil(sft.warmup_ratio * steps)
        assert warmup == min(10, steps // 2)
        multiplier = lr_lambda(sft.lr_scheduler, warmup, steps)
        assert multiplier(warmup) == 1.0 and multiplier(steps) == 0.0
        assert sft.loss_on == "final" and sft.max_steps == steps and sft.weight_decay == 0.0
