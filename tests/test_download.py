"""`sftvsrl download` and name resolution against a loopback fake of the Hub (no traffic leaves 127.0.0.1)."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from fake_hub import FakeHub, FakeRepo
from trainers.config import load_config
from trainers.config.schema import ExperimentConfig
from sftvsrl_cli.main import cli
from trainers.hub import (NotDownloadedError, apply_virl_data_names, resolve_model_reference,
                          resolve_sft_data_reference, resolve_virl_data)
from trainers.hub.archives import ArchiveError, extract_archive
from trainers.sft.data import find_data_file

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_loopbackSecretToken0123456789"


def model_repo(private: bool = False, repo_id: str = "tianzhechu/GP-L-Init") -> FakeRepo:
    weights = bytes(range(256)) * 1200  # 300 kB, several download chunks
    return FakeRepo(repo_id, "model", {
        "config.json": b'{"model_type": "llama"}\n',
        "tokenizer.json": b'{"version": "1.0"}\n',
        "model.safetensors": weights,
    }, lfs={"model.safetensors"}, private=private)


def route_zip(top: str, routes: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr(f"{top}/route_infos.json", json.dumps([[{"route": i} for i in range(routes)], routes]))
        bundle.writestr(f"{top}/gps_pano_mapping.pkl", pickle.dumps({(40.7, -74.0): "pano_a"}))
        bundle.writestr(f"{top}/street_views/pano_a.jpg", b"\xff\xd8 not a real jpeg")
        bundle.writestr(f"{top}/street_views/pano_a.metadata.json", b'{"rotation": 12.5}')
    return buffer.getvalue()


def data_repo() -> FakeRepo:
    return FakeRepo("tianzhechu/SFTvsRL_Data", "dataset", {
        "README.md": b"# SFTvsRL data\n",
        "SFT_Data/gp-l/data.json": b'[{"conversations": []}]',
        "SFT_Data/virl-l/data.json": b'[{"conversations": []}]',
        "VIRL_routes/nyc_1k_routes.zip": route_zip("nyc_1k_routes", 3),
        "VIRL_routes/VLN_mini.zip": route_zip("VLN_mini", 2),
    }, lfs={"VIRL_routes/nyc_1k_routes.zip", "VIRL_routes/VLN_mini.zip"})


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """HF_HOME in tmp, no token, online; returns a function that points HF_ENDPOINT at a fake hub."""
    for variable in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE",
                     "HUGGINGFACE_HUB_CACHE", "HF_ENDPOINT"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")

    def use(hub: FakeHub) -> FakeHub:
        monkeypatch.setenv("HF_ENDPOINT", hub.endpoint)
        return hub

    return use


def run_cli(*args: str):
    return CliRunner().invoke(cli, ["download", *args])


def error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_full_download_verifies_resolves_and_prints_next_command(hub_env):
    repo = model_repo()
    with hub_env(FakeHub([repo])) as hub:
        result = run_cli("gp-l-init", "--json")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        snapshot = Path(summary["path"])
        assert summary["commit"] == repo.commit and summary["verified"] and summary["files"] == 3
        assert summary["bytes"] == sum(len(content) for content in repo.files.values())
        for name, content in repo.files.items():
            assert (snapshot / name).read_bytes() == content
        assert summary["next"] == [f"sftvsrl ppo --task gp-l --model {snapshot}"]
        assert resolve_model_reference("gp-l-init") == str(snapshot)
        assert resolve_model_reference("GP-L-Init") == str(snapshot)
        assert resolve_model_reference("tiny-llama") == "tiny-llama"
        assert len(hub.file_gets()) == 3


def test_dropped_transfer_resumes_with_a_range_request(hub_env):
    repo = model_repo()
    repo.files["model.safetensors"] = bytes(range(256)) * (48 * 1024)  # 12 MiB: more than one 10 MiB chunk
    hub = FakeHub([repo])
    cut = 11 * 1024 * 1024
    hub.cut_after["model.safetensors"] = cut
    with hub_env(hub):
        result = run_cli("gp-l-init", "--json")
        assert result.exit_code == 0, result.output
        snapshot = Path(json.loads(result.stdout)["path"])
        assert (snapshot / "model.safetensors").read_bytes() == repo.files["model.safetensors"]
        ranges = [r.range for r in hub.file_gets() if r.path.endswith("model.safetensors")]
        assert len(ranges) == 2 and ranges[0] is None
        resumed_at = int(ranges[1].removeprefix("bytes=").rstrip("-"))
        assert 0 < resumed_at <= cut  # only the bytes not yet written are fetched again


def test_interrupted_download_resumes_and_fetches_only_what_is_missing(hub_env, monkeypatch):
    repo = model_repo()
    hub = FakeHub([repo])
    hub.fail_get.add("model.safetensors")
    with hub_env(hub):
        first = run_cli("gp-l-init")
        assert first.exit_code == 2
        assert "500" in error_line(first)
        assert resolve_model_reference("gp-l-init") == "tianzhechu/GP-L-Init"  # incomplete: not a local path
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        assert "only partly downloaded" in error_line(run_cli("gp-l-init"))
        with pytest.raises(NotDownloadedError):
            resolve_model_reference("gp-l-init")
        monkeypatch.delenv("HF_HUB_OFFLINE")
        hub.fail_get.clear()
        already = len(hub.file_gets())
        second = run_cli("gp-l-init", "--json")
        assert second.exit_code == 0, second.output
        assert [r.path.rsplit("/", 1)[-1] for r in hub.file_gets()[already:]] == ["model.safetensors"]
        snapshot = Path(json.loads(second.stdout)["path"])
        assert (snapshot / "model.safetensors").read_bytes() == repo.files["model.safetensors"]


def test_missing_repository_is_a_one_line_error(hub_env):
    with hub_env(FakeHub([model_repo()])):
        result = run_cli("someone/no-such-model")
    assert result.exit_code == 2
    line = error_line(result)
    assert "someone/no-such-model (model) was not found" in line and "HF_TOKEN" in line


def test_private_repository_needs_a_token_which_never_leaks(hub_env, tmp_path):
    repo = model_repo(private=True, repo_id="lab/private-init")
    with hub_env(FakeHub([repo], token=TOKEN)) as hub:
        denied = run_cli("lab/private-init")
        assert denied.exit_code == 2
        assert "needs authentication" in error_line(denied) and "no token is set" in error_line(denied)
        env = {**os.environ, "HF_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
        done = subprocess.run([sys.executable, "-m", "sftvsrl_cli", "-v", "download", "lab/private-init"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        snapshot = Path(done.stdout.strip())
        assert (snapshot / "model.safetensors").read_bytes() == repo.files["model.safetensors"]
        assert "next:" in done.stderr and f"--model {snapshot}" in done.stderr
        assert any(r.authorization == f"Bearer {TOKEN}" for r in hub.requests)
        assert TOKEN not in done.stdout + done.stderr + denied.output
        for path in (tmp_path / "hf_home").rglob("*"):
            if path.is_file() and not path.is_symlink():
                assert TOKEN.encode() not in path.read_bytes(), path


def test_offline_uses_the_cache_without_any_request(hub_env, monkeypatch):
    with hub_env(FakeHub([model_repo()])) as hub:
        online = run_cli("gp-l-init", "--json")
        assert online.exit_code == 0, online.output
        seen = len(hub.requests)
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        offline = run_cli("gp-l-init", "--json")
        assert offline.exit_code == 0, offline.output
        summary = json.loads(offline.stdout)
        assert summary["offline"] and summary["verified"]
        assert summary["path"] == json.loads(online.stdout)["path"]
        assert resolve_model_reference("gp-l-init") == summary["path"]
        assert len(hub.requests) == seen


def test_offline_without_cache_says_so_in_one_line(hub_env, monkeypatch):
    with hub_env(FakeHub([model_repo()])) as hub:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        result = run_cli("gp-l-init")
        assert result.exit_code == 2
        line = error_line(result)
        assert "offline (HF_HUB_OFFLINE is set)" in line and "not in the cache" in line
        with pytest.raises(NotDownloadedError, match="sftvsrl download gp-l-init"):
            resolve_model_reference("gp-l-init")
        assert hub.requests == []


def test_corrupted_file_is_detected_removed_and_fetched_again(hub_env):
    repo = model_repo()
    hub = FakeHub([repo])
    hub.corrupt.add("model.safetensors")
    with hub_env(hub):
        bad = run_cli("gp-l-init")
        assert bad.exit_code == 2
        assert "model.safetensors has checksum" in error_line(bad)
        hub.corrupt.clear()
        good = run_cli("gp-l-init", "--json")
        assert good.exit_code == 0, good.output
        snapshot = Path(json.loads(good.stdout)["path"])
        assert (snapshot / "model.safetensors").read_bytes() == repo.files["model.safetensors"]


def test_virl_part_downloads_only_its_archive_unpacks_and_resolves(hub_env):
    with hub_env(FakeHub([data_repo()])) as hub:
        result = run_cli("virl-vln-mini", "--json")
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout)
        assert [r.path.rsplit("/", 1)[-1] for r in hub.file_gets()] == ["VLN_mini.zip"]
        paths = resolve_virl_data("virl-vln-mini")
        assert json.loads(paths.route_info_path.read_text())[1] == 2
        assert pickle.loads(paths.gps_to_pano_path.read_bytes()) == {(40.7, -74.0): "pano_a"}
        assert (paths.panorama_dir / "pano_a.metadata.json").is_file()
        assert f"--env_config.route_info_path={paths.route_info_path}" in summary["next"][0]
        config = apply_virl_data_names({"route_info_path": "virl-vln-mini", "platform_cfg": {"OFFLINE": {}}})
        assert config["route_info_path"] == str(paths.route_info_path)
        assert config["platform_cfg"]["OFFLINE"]["PANORAMA_DIR"] == str(paths.panorama_dir)
        with pytest.raises(NotDownloadedError, match="sftvsrl download virl-nyc-1k"):
            resolve_virl_data("virl-nyc-1k")
        loaded = load_config(ExperimentConfig, None, ["--env_config.id=gym_virl/Navigation-v0",
                                                      "--env_config.route_info_path=virl-vln-mini"])
        assert loaded.env_config["route_info_path"] == str(paths.route_info_path)
        assert loaded.env_config["platform_cfg"]["OFFLINE"]["GPS_TO_PANO_PATH"] == str(paths.gps_to_pano_path)


def test_sft_data_name_resolves_to_its_folder(hub_env):
    with hub_env(FakeHub([data_repo()])):
        result = run_cli("sft-gp-l", "--json")
        assert result.exit_code == 0, result.output
        folder = Path(resolve_sft_data_reference("sft-gp-l"))
        assert (folder / "data.json").is_file() and folder.name == "gp-l"
        assert find_data_file("sft-gp-l") == folder / "data.json"
        assert not (folder.parent / "virl-l").exists()


def test_local_dir_download_and_rerun_without_refetching(hub_env, tmp_path):
    repo = model_repo(repo_id="someone/other-model")
    target = tmp_path / "weights"
    with hub_env(FakeHub([repo])) as hub:
        first = run_cli("someone/other-model", "--out", str(target), "--exclude", "tokenizer.json", "--json")
        assert first.exit_code == 0, first.output
        assert sorted(p.name for p in target.iterdir() if p.is_file()) == ["config.json", "model.safetensors"]
        assert json.loads(first.stdout)["files"] == 2
        gets = len(hub.file_gets())
        again = run_cli("someone/other-model", "--out", str(target), "--exclude", "tokenizer.json", "--json")
        assert again.exit_code == 0 and len(hub.file_gets()) == gets


def test_list_and_dry_run_show_sizes(hub_env):
    with hub_env(FakeHub([data_repo()])):
        listed = run_cli("--list", "--json")
        rows = {row["name"]: row for row in json.loads(listed.stdout)}
        assert rows["virl-nyc-1k"]["size_bytes"] == 2_170_000_000
        assert rows["virl-vln-mini"]["size_bytes"] == 58_600_000
        assert rows["gp-l-init"]["path"] is None
        plan = json.loads(run_cli("data", "--dry-run", "--json").stdout)
        assert len(plan["files"]) == 5 and plan["to_fetch"] == 5
        assert run_cli("sft-virl-l").exit_code == 0
        rows = {row["name"]: row for row in json.loads(run_cli("--list", "--json").stdout)}
        assert rows["sft-virl-l"]["path"] is not None
        assert rows["sft-virl-l"]["size_bytes"] == len(b'[{"conversations": []}]')


def test_unknown_name_and_wrong_repo_type_are_clear():
    result = run_cli("gp-l-inti")
    assert result.exit_code == 2 and "--list" in error_line(result)
    result = run_cli("gp-l-init", "--repo-type", "dataset")
    assert result.exit_code == 2 and "is a model repository" in error_line(result)


def test_archive_with_unsafe_member_paths_is_refused(tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("../outside.txt", b"x")
    with pytest.raises(ArchiveError, match="unsafe member path"):
        extract_archive(archive)
    assert not (tmp_path.parent / "outside.txt").exists() and not (tmp_path / "evil").exists()
