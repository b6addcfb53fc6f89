"""The config system: published schema, packaged configs, overrides, and one-line errors."""

from __future__ import annotations

import pytest

from trainers.config import ConfigError, load_config, parse_overrides
from trainers.config.loader import packaged_config_names
from trainers.config.schema import ExperimentConfig

PUBLISHED_STYLE = """
grad_accum_steps: 128
optimizer_config:
  init_lr: !!float 1e-6
  eps: !!float 1e-7
  weight_decay: 0
  lr_max_steps: 100
  end_lr: !!float 1e-9
ppo_config:
  clip_param: 0.1
  ppo_epoch: 4
  mini_batch_size: 1
  value_loss_coef: 0.5
  entropy_coef: 0.01
  max_grad_norm: 0.01
compute_return_kwargs:
  use_gae: true
  gamma: 0.9
  gae_lambda: 0.95
  use_proper_time_limits: False
report_to: wandb
run_name: "card_24"
num_processes: 1
num_updates: 20
num_envs: 128
num_eval_envs: 15
env_config:
  id: 'gym_cards/GeneralPoint-oneline-v0'
  target_points: 24
  treat_face_cards_as_10: true
  resolution: 448
  face_cards_color: "black"
  verify_iter: 5
  num_steps: 5
"""


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_published_style_config_loads_unchanged(tmp_path):
    config = load_config(ExperimentConfig, write(tmp_path, PUBLISHED_STYLE))
    assert config.optimizer_config.init_lr == 1e-6
    assert config.ppo_config.clip_param == 0.1
    assert config.compute_return_kwargs.gamma == 0.9
    assert config.env_config["face_cards_color"] == "black"
    assert config.num_envs == 128


def test_launch_script_overrides_win_over_the_file(tmp_path):
    overrides = ["--env_config.target_points=12", "--optimizer_config.init_lr", "2e-6", "--seed=7", "--output_dir=runs/x"]
    config = load_config(ExperimentConfig, write(tmp_path, PUBLISHED_STYLE), overrides)
    assert config.env_config["target_points"] == 12
    assert config.optimizer_config.init_lr == 2e-6
    assert (config.seed, config.output_dir) == (7, "runs/x")


def test_override_values_are_yaml_scalars_never_code():
    pairs = dict(parse_overrides(["--a=true", "--b=1e-3", "--c=[1, 2]", "--d=__import__('os').getcwd()", "--e=null"]))
    assert pairs["a"] is True and pairs["c"] == [1, 2] and pairs["e"] is None
    assert pairs["d"] == "__import__('os').getcwd()"


EXPERIMENT_CONFIGS = [name for name in packaged_config_names() if not name.startswith("accelerate/")]


@pytest.mark.parametrize("name", EXPERIMENT_CONFIGS)
def test_every_packaged_config_loads(name):
    assert isinstance(load_config(ExperimentConfig, name), ExperimentConfig)


def test_packaged_configs_cover_every_gp_split():
    names = set(packaged_config_names())
    for split in ("gp_l_id", "gp_l_rule_ood", "gp_vl_id", "gp_vl_rule_ood", "gp_vl_visual_ood"):
        assert f"gp/eval_{split}" in names


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["--env_config.targt_points=3"], "unknown config key 'env_config.targt_points' (did you mean 'target_points'?)"),
        (["--optimizer_config.init_lrr=1"], "did you mean 'init_lr'?"),
        (["--num_update=3"], "did you mean 'num_updates'?"),
        (["--seed=abc"], "'seed' must be an integer"),
        (["--ppo_config.clip_param=[1]"], "'ppo_config.clip_param' must be a number"),
        (["--env_config.face_cards_color=blak"], "did you mean 'black'?"),
        (["--env_config.id=gym_cards/GeneralPoint-oneline-v1"], "did you mean 'gym_cards/GeneralPoint-oneline-v0'?"),
        (["--env_config.verify_iter=0"], "verify_iter must be at least 1"),
        (["--seed"], "has no value"),
        (["--seed.x=1"], "'seed' must be an integer, got dict"),
        (["--seed=1", "--seed.x=1"], "'seed' is not a mapping"),
    ],
)
def test_bad_values_fail_with_one_line_naming_the_key(overrides, message):
    with pytest.raises(ConfigError) as error:
        load_config(ExperimentConfig, None, overrides)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_missing_file_suggests_a_packaged_name():
    with pytest.raises(ConfigError, match=r"config file not found: gp/rl_gp_ll \(did you mean 'gp/rl_gp_l'\?\)"):
        load_config(ExperimentConfig, "gp/rl_gp_ll")


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path, "seed: 1\nenv_config: [unclosed\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: line \d+"):
        load_config(ExperimentConfig, path)


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(ExperimentConfig, write(tmp_path, "- 1\n- 2\n"))
