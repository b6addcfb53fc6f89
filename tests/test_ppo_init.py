"""The built-in tiny model's SFT initialisation: built once, atomically, loadable, then reused."""

from __future__ import annotations

import json

from envs.general_points.config import GeneralPointsConfig
from trainers.ppo.init_model import TinyInitRecipe, build_tiny_init, init_folder


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
