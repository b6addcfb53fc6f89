"""Every published config and launch script runs unchanged (docs/compatibility.md).

tests/published/ holds faithful copies of the 12 published experiment YAML files (every key and value as
docs/published-configs.md lists them), next to the published launcher files that
tests/test_accelerate_published.py runs. Each launch script's command line is replayed with its own overrides,
its placeholders pointing at tiny stand-ins (built-in tiny models, a synthetic V-IRL city), plus overrides that
only shrink the run. The checks: the variant (text or vision) and the split label are what the published code
ran, the output lands where the script said, and the published-only keys behave as the published code did.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from trainers.config import ConfigError, load_config
from trainers.config.published_keys import KNOWN_PROMPTS, MACHINERY_KEYS, markdown_table
from trainers.config.schema import ExperimentConfig
from sftvsrl_cli.main import cli

PUBLISHED = Path(__file__).parent / "published"
REPO = Path(__file__).resolve().parents[1]
RL = {name: PUBLISHED / f"rl_llama_{name}.yaml" for name in ("gp_language", "gp_vl", "virl_language", "virl_vl")}
EVAL = {name: PUBLISHED / f"evaluation_{name}.yaml" for name in
        ("llama_gp_language", "llama_gp_vl", "llama_virl_language", "llama_virl_vl",
         "api_gp_language", "api_gp_vl", "api_virl_language", "api_virl_vl")}
LAUNCHER_YAMLS = ("config_zero2_8gpu.yaml", "config_zero2_1gpu.yaml")
EXPERIMENT_YAMLS = sorted(path for path in PUBLISHED.glob("*.yaml") if path.name not in LAUNCHER_YAMLS)
VIRL_DATA = ["--env_config.route_info_path=YOUR_ROUTE_INFO_PATH",
             "--env_config.platform_cfg.OFFLINE.PANORAMA_DIR=YOUR_STREETVIEWS_PATH",
             "--env_config.platform_cfg.OFFLINE.GPS_TO_PANO_PATH=YOUR_GPS_TO_PANO_MAPPING_PATH"]


def _gp_eval(out, verify, viter, ood, color=None, num=234):
    color_override = [f"--env_config.face_cards_color={color}"] if color else []
    return ["--model_path=YOUR_MODEL_PATH", f"--output_dir={out}", f"--prompt_config.enable_verification={verify}",
            "--env_config.target_points=24", f"--env_config.verify_iter={viter}", *color_override,
            f"--env_config.ood={ood}", f"--num_traj={num}"]


def _virl_eval(out, absolute, extra=(), num=48):
    return ["--model_path=YOUR_MODEL_PATH", f"--output_dir={out}", *VIRL_DATA,
            "--prompt_config.enable_verification=True", "--env_config.verify_iter=2",
            f"--env_config.absolute_action={absolute}", *extra, f"--num_traj={num}"]


def _api(out):
    return [f"--output_dir={out}", "--model=", "--API_URL=", "--API_KEY=", "--prompt_config.enable_verification=False",
            "--env_config.target_points=24", "--env_config.verify_iter=1", "--env_config.ood=False", "--num_traj=23"]


def _train(out, lr, steps, updates, run_name, extra=()):
    return [f"--output_dir={out}", f"--optimizer_config.init_lr={lr}", f"--optimizer_config.lr_max_steps={steps}",
            "--prompt_config.enable_verification=True", f"--num_updates={updates}", *extra, f"--run_name={run_name}",
            "--num_steps=256", "--model_path=YOUR_MODEL_PATH", "--save_ckpt=False", "--save_every=1"]


# script -> (command, config, overrides as the script writes them with ${VITER}/${TARGET} filled in, the task
# the published code ran, the split label the published code's settings match here)
SCRIPTS = {
    "api_evaluation/gp_l.sh": ("eval-api", EVAL["api_gp_language"],
                               _api("logs/scripted_gp_l_indist_verify_1_target_24/gp_l_indist.jsonl"), "gp-l", "id"),
    "api_evaluation/gp_vl.sh": ("eval-api", EVAL["api_gp_vl"],
                                _api("logs/scripted_gp_vl_indist_verify_1_target_24/gp_l_indist.jsonl"), "gp-vl", "id"),
    "gp_evaluation/language_indist_eval.sh": (
        "eval", EVAL["llama_gp_language"], _gp_eval("logs/gp_l_indist_verify_5_target_24/gp_l_indist.jsonl",
                                                    True, 5, False), "gp-l", "id"),
    # The published rule-OOD scripts set only ood=True: J/Q/K still count as 10 (the config's
    # treat_face_cards_as_10: true), which is none of the named splits, so the run is labelled "custom".
    "gp_evaluation/language_ood_eval.sh": (
        "eval", EVAL["llama_gp_language"], _gp_eval("logs/gp_l_ood_verify_5_target_24/gp_l_ood.jsonl",
                                                    True, 5, True), "gp-l", "custom"),
    "gp_evaluation/vl_indist_eval.sh": (
        "eval", EVAL["llama_gp_vl"], _gp_eval("logs/gp_vl_indist_verify_5_target_24/gp_vl_indist.jsonl",
                                              True, 5, False, "black"), "gp-vl", "id"),
    "gp_evaluation/vl_rule_ood_eval.sh": (
        "eval", EVAL["llama_gp_vl"], _gp_eval("logs/gp_vl_rule_ood_verify_5_target_24/gp_vl_rule_ood.jsonl",
                                              True, 5, True, "black"), "gp-vl", "custom"),
    "gp_evaluation/vl_visual_ood_eval.sh": (
        "eval", EVAL["llama_gp_vl"], _gp_eval("logs/gp_vl_visual_ood_verify_5_target_24/gp_vl_visual_ood.jsonl",
                                              True, 5, False, "red"), "gp-vl", "visual-ood"),
    "gp_recog_evaluation/recog_indist_eval.sh": (
        "recog", EVAL["llama_gp_vl"], _gp_eval("logs/gp_vl_recog_indist_verify_1_target_24/gp_vl_recog_indist.jsonl",
                                               False, 1, False, "black"), "gp-vl", "id"),
    "gp_recog_evaluation/recog_rule_ood_eval.sh": (
        "recog", EVAL["llama_gp_vl"],
        _gp_eval("logs/gp_vl_recog_rule_ood_verify_1_target_24/gp_vl_recog_rule_ood.jsonl", False, 1, True, "black"),
        "gp-vl", "custom"),
    "gp_recog_evaluation/recog_visual_ood_eval.sh": (
        "recog", EVAL["llama_gp_vl"],
        _gp_eval("logs/gp_vl_recog_visual_ood_verify_1_target_24/gp_vl_recog_visual_ood.jsonl", False, 1, False, "red"),
        "gp-vl", "visual-ood"),
    "virl_evaluation/language_indist_eval.sh": (
        "eval", EVAL["llama_virl_language"], _virl_eval("logs/virl_l_indist_verify_2/virl_l_indist.jsonl", True),
        "virl-l", "id"),
    "virl_evaluation/language_ood_eval.sh": (
        "eval", EVAL["llama_virl_language"], _virl_eval("logs/virl_l_ood_verify_2/virl_l_ood.jsonl", False),
        "virl-l", "rule-ood"),
    "virl_evaluation/vl_indist_eval.sh": (
        "eval", EVAL["llama_virl_vl"], _virl_eval("logs/virl_vl_rule_ood_verify_2/virl_vl_rule_ood.jsonl", True),
        "virl-vl", "id"),
    "virl_evaluation/vl_rule_ood_eval.sh": (
        "eval", EVAL["llama_virl_vl"], _virl_eval("logs/virl_vl_rule_ood_verify_2/virl_vl_rule_ood.jsonl", False),
        "virl-vl", "rule-ood"),
    "virl_evaluation/vl_visual_ood_eval.sh": (
        "eval", EVAL["llama_virl_vl"],
        _virl_eval("logs/virl_vl_visual_ood_verify_2/virl_vl_visual_ood.jsonl", True, ["--order=True"], 18),
        "virl-vl", "visual-ood"),
    "gp_training/language_train.sh": (
        "ppo", RL["gp_language"], _train("train_ckpt/gp_language/", "1e-6", 100, 20, "gp_language_training",
                                         ["--env_config.target_points=24"]), "gp-l", None),
    "gp_training/vl_train.sh": (
        "ppo", RL["gp_vl"], _train("train_ckpt/gp_vl/", "1e-6", 100, 20, "gp_vl_training",
                                   ["--env_config.face_cards_color=black"]), "gp-vl", None),
    "virl_training/language_train.sh": (
        "ppo", RL["virl_language"], _train("train_ckpt/virl_l/", "1e-6", 20, 15, "virl_language_training") + VIRL_DATA,
        "virl-l", None),
    "virl_training/vl_train.sh": (
        "ppo", RL["virl_vl"], _train("train_ckpt/virl_vl/", "1e-7", 20, 15, "virl_vl_training") + VIRL_DATA,
        "virl-vl", None),
}
EVAL_SCRIPTS = [name for name, spec in SCRIPTS.items() if spec[0] in ("eval", "recog")]


@pytest.fixture(scope="module")
def city():
    from tests._virl_city import small_city

    return small_city()


def _stand_ins(args: list[str], city: Path | None, model: str = "tiny-llama") -> list[str]:
    """The script's placeholders pointed at tiny stand-ins."""
    values = {"YOUR_MODEL_PATH": model}
    if city is not None:
        values.update(YOUR_ROUTE_INFO_PATH=str(city / "route_infos.json"),
                      YOUR_STREETVIEWS_PATH=str(city / "street_views"),
                      YOUR_GPS_TO_PANO_MAPPING_PATH=str(city / "gps_pano_mapping.pkl"))
    out = []
    for arg in args:
        for placeholder, value in values.items():
            arg = arg.replace(placeholder, value)
        out.append(arg)
    return out


def _invoke(args: list[str], env: dict | None = None):
    return CliRunner(env=env).invoke(cli, args, catch_exceptions=False)


def _output_folder(overrides: list[str]) -> Path:
    value = next(a for a in overrides if a.startswith("--output_dir=")).split("=", 1)[1]
    return Path(value).parent if value.endswith(".jsonl") else Path(value)


# ---- every published file loads unchanged, and its published values give no warning ------------------------

@pytest.mark.parametrize("path", EXPERIMENT_YAMLS, ids=lambda p: p.stem)
def test_every_published_config_loads_unchanged_and_selects_its_variant(path, capsys):
    config = load_config(ExperimentConfig, str(path))
    vision = "_vl" in path.stem
    assert config.language_only is not vision
    assert config.env_config["language_only"] is not vision
    assert config.config_warnings == [] and "Warning" not in capsys.readouterr().err


def test_the_fixtures_are_the_twelve_published_files():
    assert len(EXPERIMENT_YAMLS) == 12
    assert set(RL.values()) | set(EVAL.values()) == set(EXPERIMENT_YAMLS)


@pytest.mark.parametrize("script", list(SCRIPTS), ids=lambda s: s.replace("/", ":"))
def test_every_launch_script_loads_with_its_overrides(script, city):
    command, path, overrides, task, _ = SCRIPTS[script]
    config = load_config(ExperimentConfig, str(path), _stand_ins(overrides, city))
    assert config.language_only is task.endswith("-l")
    assert Path(config.output_dir) == _output_folder(overrides)


# ---- the published keys mean what they meant --------------------------------------------------------------

def test_published_rl_answer_length_is_max_new_tokens_and_save_ckpt_false_keeps_only_the_latest():
    from trainers.ppo.config import PPOTrainConfig

    experiment = load_config(ExperimentConfig, str(RL["gp_language"]))
    assert experiment.generation_config.max_new_tokens == 512  # max_tokens: 300 is "not used"
    assert PPOTrainConfig(experiment).max_new_tokens == 512
    assert experiment.keep_every_checkpoint is False
    assert load_config(ExperimentConfig, str(RL["gp_language"]), ["--save_ckpt=True"]).keep_every_checkpoint
    assert load_config(ExperimentConfig, None).keep_every_checkpoint  # unset: one per save_every, as before


def test_api_max_tokens_is_the_request_limit():
    config = load_config(ExperimentConfig, str(EVAL["api_gp_language"]))
    assert config.generation_config.request_max_tokens == 256


@pytest.mark.parametrize("overrides, expected", [
    (["--prompt_config.use_vision=true", "--prompt_config.use_language=false"], False),
    (["--prompt_config.use_language=false"], False),
    (["--prompt_config.use_vision=false"], True),
    ([], True),
    (["--env_config.language_only=false"], False),
])
def test_use_vision_and_use_language_select_the_variant(overrides, expected):
    assert load_config(ExperimentConfig, None, overrides).language_only is expected


@pytest.mark.parametrize("overrides, names", [
    (["--prompt_config.use_vision=true", "--env_config.language_only=true"],
     ["prompt_config.use_vision: true", "env_config.language_only: true"]),
    (["--prompt_config.use_vision=true", "--prompt_config.use_language=true"],
     ["prompt_config.use_vision: true", "prompt_config.use_language: true"]),
])
def test_a_variant_conflict_is_an_error_naming_both_keys(overrides, names):
    with pytest.raises(ConfigError) as error:
        load_config(ExperimentConfig, None, overrides)
    assert all(name in str(error.value) for name in names)


def test_prompt_names_must_be_published_ones_of_the_configs_environment():
    with pytest.raises(ConfigError) as error:
        load_config(ExperimentConfig, str(RL["gp_language"]), ["--prompt_config.prompt_language=[Q_NO_SUCH]"])
    assert "'Q_NO_SUCH'" in str(error.value) and all(name in str(error.value) for name in KNOWN_PROMPTS)
    with pytest.raises(ConfigError, match="Q_VIRL_L.*gym_virl/Navigation-v0"):
        load_config(ExperimentConfig, str(RL["gp_language"]), ["--prompt_config.prompt_language=[Q_VIRL_L]"])


def test_every_unknown_key_is_reported_at_once_with_close_hints_only(tmp_path):
    text = RL["gp_language"].read_text() + "ordr: true\nsave_steps: 20\ntemperature: 0.5\nzzz_key: 1\n"
    path = tmp_path / "typos.yaml"
    path.write_text(text.replace("target_points: 24", "targt_points: 24"))
    with pytest.raises(ConfigError) as error:
        load_config(ExperimentConfig, str(path))
    message = str(error.value)
    assert "\n" not in message and message.startswith("unknown config keys (5):")
    assert "'ordr' (did you mean 'order'?)" in message
    assert "'save_steps' (this project's key is 'sft_config.save_every')" in message
    assert "'temperature' (did you mean 'generation_config.temperature'?)" in message
    assert "'env_config.targt_points' (did you mean 'target_points'?)" in message
    assert re.search(r"'zzz_key'(, |$)", message)  # nothing is close: no hint


def test_machinery_keys_warn_only_on_values_that_changed_the_published_run(capsys, city):
    behaviour = ["--trainer=OtherTrainer", "--generation_config.num_beams=4", "--num_processes=8", "--rule=other"]
    config = load_config(ExperimentConfig, str(RL["gp_language"]), behaviour)
    err = capsys.readouterr().err
    for key in ("trainer", "generation_config.num_beams", "num_processes", "rule"):
        assert any(f"'{key}'" in line for line in config.config_warnings)
        assert f"Warning: config key '{key}'" in err
    offline = load_config(ExperimentConfig, str(EVAL["llama_virl_language"]),
                          _stand_ins(VIRL_DATA, city) + ["--env_config.platform_cfg.OFFLINE.ENABLED=false"])
    assert [w.split("'")[1] for w in offline.config_warnings] == ["env_config.platform_cfg.OFFLINE.ENABLED"]
    assert load_config(ExperimentConfig, str(EVAL["api_gp_language"])).config_warnings == []  # model: gpt-4o


def test_the_compatibility_doc_quotes_the_machinery_table():
    doc = (REPO / "docs" / "compatibility.md").read_text(encoding="utf-8")
    assert markdown_table() in doc
    assert all(f"`{row.key}`" in doc for row in MACHINERY_KEYS)
    for script in SCRIPTS:
        assert f"`scripts/{script}`" in doc


def _small_eval(task: str) -> list[str]:
    """Overrides that only shrink a run (episodes, image sizes)."""
    views = ["--env_config.platform_cfg.STREET_VIEW.SIZE=[16, 16]"] if task.startswith("virl") else []
    return ["--num_traj=2", "--env_config.resolution=64", *views]


# ---- the evaluation scripts, run (reference policy: the command path without a model) ----------------------

@pytest.mark.parametrize("script", EVAL_SCRIPTS, ids=lambda s: s.replace("/", ":"))
def test_evaluation_scripts_run_their_split_into_their_folder(script, city, tmp_path, monkeypatch):
    command, path, overrides, task, label = SCRIPTS[script]
    monkeypatch.chdir(tmp_path)
    result = _invoke([command, "-f", str(path), "--policy", "oracle", *_stand_ins(overrides, city), *_small_eval(task)])
    assert result.exit_code == 0, result.output
    folder = tmp_path / _output_folder(overrides)
    summary = json.loads((folder / "summary.json").read_text())
    assert list(summary["splits"]) == [label]
    run = json.loads((folder / label / "run.json").read_text())
    assert run["task"] == task and run["env_config"]["language_only"] is task.endswith("-l")
    if command == "recog":
        assert run["env_config"]["verify_iter"] == 1 and run["enable_verification"] is False


def test_virl_visual_ood_order_plays_route_i_in_episode_i(city, tmp_path, monkeypatch):
    command, path, overrides, _, _ = SCRIPTS["virl_evaluation/vl_visual_ood_eval.sh"]
    monkeypatch.chdir(tmp_path)
    result = _invoke([command, "-f", str(path), "--policy", "oracle", *_stand_ins(overrides, city), *_small_eval("virl"),
                      "--num_traj=4"])
    assert result.exit_code == 0, result.output
    steps = tmp_path / _output_folder(overrides) / "visual-ood" / "steps.jsonl"
    episodes = [json.loads(line) for line in steps.read_text().splitlines() if '"episode"' in line]
    episodes = [e for e in episodes if e.get("type") == "episode"]
    assert [e["route_idx"] for e in sorted(episodes, key=lambda e: e["episode"])] == list(range(4))


def test_recog_honours_model_path(city, tmp_path, monkeypatch):
    _, path, overrides, _, _ = SCRIPTS["gp_recog_evaluation/recog_indist_eval.sh"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    result = CliRunner().invoke(cli, ["recog", "-f", str(path), *overrides, "--num_traj=1"])
    assert result.exit_code != 0 and "YOUR_MODEL_PATH" in result.output


# ---- eval-api: what the published API evaluator sent, and the key ------------------------------------------

API_KEY = "sk-published-DO-NOT-LEAK-7c1e"


@pytest.mark.parametrize("script", ["api_evaluation/gp_l.sh", "api_evaluation/gp_vl.sh"])
def test_api_scripts_send_what_the_published_evaluator_sent_and_never_leak_the_key(script, tmp_path, monkeypatch):
    from evaluators.loopback_server import LoopbackServer

    command, path, overrides, task, label = SCRIPTS[script]
    monkeypatch.chdir(tmp_path)
    with LoopbackServer() as server:
        args = [a.replace("--model=", "--model=gpt-4o").replace("--API_URL=", f"--API_URL={server.base_url}")
                .replace("--API_KEY=", f"--API_KEY={API_KEY}") for a in overrides]
        result = CliRunner().invoke(cli, [command, "-f", str(path), *args, "--num_traj=2"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    body = server.bodies[0]
    assert body["model"] == "gpt-4o" and body["max_tokens"] == 256 and "temperature" not in body
    assert server.authorization == {f"Bearer {API_KEY}"}
    assert "command lines are visible to other users" in result.stderr
    folder = tmp_path / _output_folder(overrides)
    assert list(json.loads((folder / "summary.json").read_text())["splits"]) == [label]
    assert API_KEY not in result.output
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert API_KEY.encode() not in file.read_bytes(), file


def test_an_api_key_override_is_taken_whole_never_parsed():
    from trainers.config import parse_overrides

    assert dict(parse_overrides(["--API_KEY=sk-a: b #c"]))["API_KEY"] == "sk-a: b #c"
    config = load_config(ExperimentConfig, str(EVAL["api_gp_language"]), [f"--API_KEY={API_KEY}"])
    assert config.api_key == API_KEY and API_KEY not in repr(config) and config.API_KEY == ""


def test_eval_api_sends_a_temperature_only_when_given(tmp_path):
    from evaluators.loopback_server import LoopbackServer

    with LoopbackServer() as server:
        result = _invoke(["eval-api", "-f", str(EVAL["api_gp_language"]), f"--API_URL={server.base_url}",
                          "--num_traj=1", "--temperature", "0.7", "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    assert {body["temperature"] for body in server.bodies} == {0.7}


# ---- runs with tiny models (slow: each loads a model) -------------------------------------------------------

@pytest.mark.slow
def test_eval_f_decodes_greedily_unless_the_config_sets_a_temperature(tmp_path, monkeypatch):
    command, path, overrides, _, _ = SCRIPTS["gp_evaluation/language_indist_eval.sh"]
    monkeypatch.chdir(tmp_path)
    small = ["--num_traj=1", "--env_config.verify_iter=1", "--generation_config.max_new_tokens=4"]
    result = _invoke([command, "-f", str(path), *_stand_ins(overrides, None), *small])
    assert result.exit_code == 0, result.output
    policy = json.loads((tmp_path / _output_folder(overrides) / "run.json").read_text())["config"]["policy"]
    assert policy["model"] == "tiny-llama" and policy["temperature"] == 0.0 and policy["do_sample"] is False
    assert policy["max_new_tokens"] == 4


_VISION_BUILD = pytest.mark.timeout(3600)  # the first tiny-mllama use builds it (29 min measured at load 7)


@pytest.mark.slow
@pytest.mark.parametrize("script", ["gp_training/language_train.sh",
                                    pytest.param("gp_training/vl_train.sh", marks=_VISION_BUILD),
                                    "virl_training/language_train.sh",
                                    pytest.param("virl_training/vl_train.sh", marks=_VISION_BUILD)])
def test_training_scripts_train_their_variant_and_keep_only_the_latest_checkpoint(script, city, tmp_path,
                                                                                   monkeypatch):
    command, path, overrides, task, _ = SCRIPTS[script]
    monkeypatch.chdir(tmp_path)
    model = "tiny-llama" if task.endswith("-l") else "tiny-mllama"
    small = ["--num_updates=2", "--num_steps=2", "--generation_config.max_new_tokens=4", "--report_to=none",
             "--env_config.resolution=64"]
    if task.startswith("virl"):
        small.append("--env_config.platform_cfg.STREET_VIEW.SIZE=[32, 32]")
    result = _invoke([command, "-f", str(path), *_stand_ins(overrides, city, model), *small])
    assert result.exit_code == 0, result.output
    folder = tmp_path / _output_folder(overrides)
    assert [p.name for p in (folder / "checkpoints").iterdir()] == ["update_000002"]
    import yaml

    saved = yaml.safe_load((folder / "config.yaml").read_text())
    assert saved["env_config"]["language_only"] is task.endswith("-l")
    assert saved["prompt_config"]["use_vision"] is not task.endswith("-l")
