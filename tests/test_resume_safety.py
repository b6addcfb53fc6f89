"""Resuming a PPO run reads only data: a crafted checkpoint file is refused by name and never runs code, and
each environment's state round-trips through plain JSON."""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import envs  # noqa: F401  (registers the ids)
from envs.errors import CheckpointError
from envs.registry import make_env
from trainers.ppo.checkpoint import latest_checkpoint, load_rank_state, rng_state
from trainers.ppo.engine import PlainEngine
from trainers.ppo.rollout import RolloutWorker
from trainers.ppo.safe_files import UnsafeCheckpointFileError, load_json_file, load_tensor_file

from _virl_city import env_config, expert_json, small_city

ROOT = Path(__file__).resolve().parents[1]
GP_L = {"id": "gym_cards/GeneralPoint-oneline-v0", "verify_iter": 3}


class Payload:
    """Writes `marker` when unpickled: what a crafted checkpoint file could do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('code ran')",)


def _crafted(path: Path, marker: Path, wrap_in_torch: bool = True) -> Path:
    if wrap_in_torch:
        torch.save({"state": Payload(marker), "param_groups": []}, path)
    else:
        path.write_bytes(pickle.dumps({"episodes": Payload(marker)}))
    return path


def test_the_payload_is_live_when_unpickled(tmp_path):
    """The files the other tests craft do run code under a plain unpickler (so their refusal means something)."""
    marker = tmp_path / "marker"
    torch.load(_crafted(tmp_path / "x.pt", marker), weights_only=False)
    assert marker.read_text() == "code ran"


@pytest.mark.parametrize("name", ["scheduler.pt", "optimizer.pt", "value_head.pt", "rng_rank0.pt"])
@pytest.mark.parametrize("wrap_in_torch", [True, False])
def test_a_crafted_tensor_file_is_refused_by_name_and_runs_nothing(tmp_path, name, wrap_in_torch):
    marker = tmp_path / "marker"
    path = _crafted(tmp_path / name, marker, wrap_in_torch)
    with pytest.raises(UnsafeCheckpointFileError, match=name) as error:
        load_tensor_file(path)
    assert "\n" not in str(error.value) and "could run code" in str(error.value)
    assert not marker.exists()


def test_the_engine_refuses_a_crafted_optimizer_state(tmp_path):
    marker = tmp_path / "marker"
    _crafted(tmp_path / "optimizer.pt", marker)
    parameter = torch.nn.Parameter(torch.zeros(2))
    engine = PlainEngine(torch.nn.Linear(1, 1), torch.optim.Adam([parameter]), 1, 1.0)
    with pytest.raises(CheckpointError, match="optimizer.pt"):
        engine.load(tmp_path)
    assert not marker.exists()


def _rank_files(folder: Path, worker: RolloutWorker) -> None:
    torch.save(rng_state({"shuffler": torch.Generator().get_state(), "param_checksum": 0.0}), folder / "rng_rank0.pt")
    (folder / "episodes_rank0.json").write_text(json.dumps(worker.state_dict()))


def test_rank_state_round_trips_as_data(tmp_path):
    worker = RolloutWorker(GP_L, num_envs=2, seed=1)
    worker.reset_all()
    _rank_files(tmp_path, worker)
    rng, worker_state = load_rank_state(tmp_path, 0)
    assert torch.equal(rng["torch"], torch.get_rng_state())
    restored = RolloutWorker(GP_L, num_envs=2, seed=99)
    restored.load_state_dict(worker_state)
    assert restored.seed_stream.integers(0, 2**31) == worker.seed_stream.integers(0, 2**31)
    assert [c.turns for c in restored.conversations] == [c.turns for c in worker.conversations]


def test_a_non_json_episodes_file_is_refused_by_name(tmp_path):
    marker = tmp_path / "marker"
    worker = RolloutWorker(GP_L, num_envs=1, seed=1)
    _rank_files(tmp_path, worker)
    _crafted(tmp_path / "episodes_rank0.json", marker, wrap_in_torch=False)
    with pytest.raises(CheckpointError, match="episodes_rank0.json: not JSON"):
        load_rank_state(tmp_path, 0)
    assert not marker.exists()
    (tmp_path / "other.json").write_text("{\"a\": 1")
    with pytest.raises(CheckpointError, match="other.json"):
        load_json_file(tmp_path / "other.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CheckpointError, match="deep.json: not JSON"):
        load_json_file(tmp_path / "deep.json")


def test_a_checkpoint_of_the_pickling_format_is_refused_with_what_to_do(tmp_path):
    """Checkpoints written before safe checkpoints pickled whole environments: refused, never unpickled."""
    marker = tmp_path / "marker"
    old = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "worker": {"episodes": pickle.dumps(Payload(marker))}}
    torch.save(old, tmp_path / "rng_rank0.pt")
    with pytest.raises(CheckpointError, match="cannot be resumed safely.*--model"):
        load_rank_state(tmp_path, 0)
    (tmp_path / "episodes_rank0.json").write_text("{}")  # even beside an episodes file, the old RNG file is refused
    with pytest.raises(CheckpointError, match="rng_rank0.pt"):
        load_rank_state(tmp_path, 0)
    assert not marker.exists()


def _same_future(env_a, env_b, actions: list[str]) -> None:
    """Both environments answer `actions` identically, then deal the same next episode."""
    for action in actions:
        a, b = env_a.step(action), env_b.step(action)
        assert _plain(a) == _plain(b)
        if a[2] or a[3]:
            break
    assert _plain(env_a.reset()) == _plain(env_b.reset())


def _plain(value):
    """`value` as comparable plain data; an image as its shape and a digest of its bytes."""
    def encode(item):
        if isinstance(item, np.ndarray):
            return [list(item.shape), hashlib.sha256(item.tobytes()).hexdigest()]
        return str(item)
    return json.loads(json.dumps(value, default=encode))


@pytest.mark.parametrize("language_only", [True, False])
def test_general_points_state_round_trips_through_json(language_only):
    config = {**GP_L, "language_only": language_only}
    env = make_env(config)
    env.reset(seed=5)
    env.step('{"formula": "1+2"}')
    fresh = make_env(config)
    fresh.reset(seed=123)  # another hand and RNG, all overwritten by the state
    fresh.unwrapped.load_state_dict(json.loads(json.dumps(env.unwrapped.state_dict())))
    _same_future(env, fresh, ['{"formula": "(1+2)*3"}', "no formula", '{"formula": "2*2"}', ""])


@pytest.mark.parametrize("language_only", [True, False])
def test_virl_state_round_trips_through_json(language_only):
    config = env_config(small_city(), language_only=language_only, resolution=16, verify_iter=2)
    env, fresh = make_env(config), make_env(config)
    _, info = env.reset(seed=4)
    env.step(expert_json(info))  # one correct move along the rail
    *_, info = env.step("wrong answer")
    fresh.reset(seed=77)
    fresh.unwrapped.load_state_dict(json.loads(json.dumps(env.unwrapped.state_dict())))
    _same_future(env, fresh, [expert_json(info), "wrong", expert_json(info), "stop()"])


def test_a_malformed_environment_state_is_refused():
    env = make_env(GP_L)
    env.reset(seed=1)
    state = env.unwrapped.state_dict()
    with pytest.raises(ValueError, match="cards"):
        env.unwrapped.load_state_dict({**state, "cards": "os.system('x')"})
    with pytest.raises(ValueError, match="remaining"):
        env.unwrapped.load_state_dict({**state, "remaining": "3"})


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", ["scheduler.pt", "optimizer.pt", "rng_rank0.pt", "episodes_rank0.json"])
def test_resuming_a_crafted_run_folder_exits_2_and_runs_nothing(tmp_path_factory, name):
    from tests.ppo_helpers import TINY_RUN

    source = tmp_path_factory.getbasetemp() / "resume_safety_source"
    command = [sys.executable, "-m", "sftvsrl_cli", "ppo", "-f", "ppo/tiny_gp_l", "--model", "tiny-llama",
               *TINY_RUN, "--save_every=1"]
    if not (source / "log.jsonl").is_file():
        done = subprocess.run([*command, "--num_updates=1", "--out", str(source)], cwd=ROOT, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path_factory.mktemp("crafted") / "run"
    shutil.copytree(source, run)
    marker = run.parent / "marker"
    _crafted(latest_checkpoint(run) / name, marker, wrap_in_torch=name.endswith(".pt"))
    result = subprocess.run([*command, "--num_updates=2", "--out", str(run), "--resume"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, result.stderr[-3000:]
    assert name in result.stderr and "Traceback" not in result.stderr
    assert not marker.exists()


def test_deepspeed_shards_are_scanned_before_deepspeed_unpickles_them(tmp_path):
    from trainers.ppo.safe_files import check_deepspeed_files

    state = tmp_path / "state"
    state.mkdir()
    torch.save({"module": {"w": torch.zeros(2)}, "ds_version": "0.19"}, state / "mp_rank_00_model_states.pt")
    check_deepspeed_files(state)  # plain data passes
    marker = tmp_path / "marker"
    for wrap_in_torch in (True, False):
        _crafted(state / "zero_pp_rank_0_mp_rank_00_optim_states.pt", marker, wrap_in_torch)
        with pytest.raises(UnsafeCheckpointFileError, match="zero_pp_rank_0_mp_rank_00_optim_states.pt"):
            check_deepspeed_files(state)
    assert not marker.exists()


def test_episodes_with_images_round_trip_through_json():
    config = {**GP_L, "language_only": False}
    worker = RolloutWorker(config, num_envs=2, seed=3)
    worker.reset_all()
    restored = RolloutWorker(config, num_envs=2, seed=3)
    restored.load_state_dict(json.loads(json.dumps(worker.state_dict())))
    for ours, theirs in zip(worker.conversations, restored.conversations):
        assert [t.text for t in ours.turns] == [t.text for t in theirs.turns]
        assert all(np.array_equal(a, b) and b.dtype == np.uint8 for a, b in zip(ours.images, theirs.images))
        assert len(ours.images) == len(theirs.images) == 1
    bad = worker.state_dict()
    bad["episodes"][0]["turns"][0]["image"]["shape"] = [10**6, 10**6, 3]
    with pytest.raises(ValueError, match="shape"):
        RolloutWorker(config, num_envs=2, seed=3).load_state_dict(json.loads(json.dumps(bad)))
