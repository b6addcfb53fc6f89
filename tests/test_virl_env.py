"""The V-IRL environment on a generated 20-route city: expert success, rewards, verification, hostile input."""

import json

import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the ids)
from envs.conversation import EpisodeConversation
from envs.registry import make_env, make_prompter
from envs.virl.env import NavigationEnv

from _virl_city import env_config, expert_json, small_city


def make(**overrides):
    config = env_config(small_city(), **overrides)
    config.pop("id")
    return NavigationEnv(**config)


def run_expert(env, route_idx, seed=None):
    _, info = env.reset(seed=seed, options={"route_idx": route_idx})
    rewards = []
    for _ in range(500):
        _, reward, terminated, truncated, info = env.step(expert_json(info))
        rewards.append(reward)
        if terminated or truncated:
            return rewards, terminated, info
    raise AssertionError("episode did not end")


@pytest.mark.parametrize("absolute", [True, False])
def test_expert_succeeds_on_every_route(absolute):
    env = make(absolute_action=absolute)
    assert len(env.routes) == 20
    for route_idx in range(len(env.routes)):
        rewards, terminated, info = run_expert(env, route_idx, seed=route_idx)
        assert terminated and info["route_success"] and info["is_success"]
        assert all(r == 1.0 for r in rewards)
        assert info["expert_action"] == "stop()"


def test_expert_succeeds_in_vl_with_street_views():
    env = make(language_only=False, resolution=32)
    for route_idx in range(3):
        _, info = env.reset(seed=route_idx, options={"route_idx": route_idx})
        _, _, terminated, _, info = env.step(expert_json(info))
        while not terminated:
            obs, reward, terminated, truncated, info = env.step(expert_json(info))
            assert reward == 1.0 and not truncated
            assert obs.shape == (69, 69, 3) and obs.dtype == np.uint8
        assert info["route_success"]


def test_gymnasium_env_checker_language_and_vision():
    check_env(make(), skip_render_check=True)
    check_env(make(language_only=False, resolution=32), skip_render_check=True)


def test_registered_id_builds_through_the_registry():
    env = make_env(env_config(small_city()))
    _, info = env.reset(seed=0)
    assert info["route_idx"] in range(20) and info["Verify Info"] is None


def test_wrong_then_right_gives_minus_one_then_plus_one():
    env = make()
    _, info = env.reset(seed=4, options={"route_idx": 2})
    wrong = "stop()" if info["expert_action"] != "stop()" else "forward()"
    _, reward, terminated, truncated, after = env.step(json.dumps({"current observation": "No landmarks nearby", "action": wrong}))
    assert (reward, terminated, truncated) == (-1.0, False, False)
    assert after["Verify Info"] == "you made an incorrect action" and after["step_correct"] is False
    assert after["rail_index"] == 0 and after["Remaining Step"] == 1
    _, reward, _, _, moved = env.step(expert_json(info))
    assert reward == 1.0 and moved["Verify Info"] is None and moved["rail_index"] == 1 and moved["Remaining Step"] == 2
    assert moved["obs_act_seq"].startswith(f"O_1: {info['current_obs']}\nA_1: {info['expert_action']}\nO_2: ")


def test_verify_iter_exhaustion_truncates_with_minus_one():
    env = make(verify_iter=2)
    env.reset(seed=0, options={"route_idx": 0})
    bad = '{"action": "turn_direction(up)"}'
    assert env.step(bad)[1] == -1.0
    assert env.step(bad)[1] == -1.0
    _, reward, terminated, truncated, info = env.step(bad)
    assert (reward, terminated, truncated) == (-1.0, False, True)
    assert info["is_success"] is False and info["route_success"] is False
    assert info["reward_type"] == "ATTEMPTS_EXHAUSTED" and info["Verify Info"]
    with pytest.raises(ResetNeeded):
        env.step(bad)


def test_verify_iter_zero_truncates_on_the_first_call():
    env = make(verify_iter=0)
    _, info = env.reset(seed=0)
    _, reward, _, truncated, _ = env.step(expert_json(info))
    assert reward == -1.0 and truncated


def test_observation_penalty_compares_with_the_full_oracle_text():
    env = make(drop_rate=1.0)
    _, info = env.reset(seed=1, options={"route_idx": 0})
    # at the start (not an intersection): claiming one costs -1.5
    reward = env.step('{"current observation": "You observe an intersection", "action": "forward()"}')[1]
    assert reward == (-1.5 if info["expert_action"] != "forward()" else 1.0)
    env.reset(seed=1, options={"route_idx": 0})
    while "intersection" not in info["current_obs"]:
        info = env.step(expert_json(info))[4]
    reward, _, _, after = env.step('{"current observation": "No landmarks nearby", "action": "forward()"}')[1:]
    assert reward == -1.5 and after["Verify Info"] == "you are at an intersection"
    reward = env.step(expert_json(info))[1]
    assert reward == 1.0  # a real intersection mentioned by the model is not penalised


HOSTILE = [
    None, 42, "", "{" * 10_000, '{"action": ' + '"' * 50_000, "\x00\x01\x02", "stop()",
    '{"action": ["stop()"]}', '{"action": {"nested": "stop()"}}', "A" * 1_000_000,
    '{"action": "__import__(\'os\').system(\'echo hi\')"}', "[" * 100_000 + "]" * 100_000,
]


@pytest.mark.parametrize("answer", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_answers_get_a_verdict(answer):
    env = make()
    env.reset(seed=0, options={"route_idx": 1})
    _, reward, terminated, truncated, info = env.step(answer)
    assert reward in (-1.0, -1.5) and not terminated and not truncated
    assert isinstance(info["Verify Info"], str)


def test_lenient_action_formats_are_accepted():
    env = make()
    _, info = env.reset(seed=0, options={"route_idx": 3})
    answer = "Sure! ```json\n{'current observation': 'x', 'action': '%s  ',}\n```" % info["expert_action"].upper()
    assert env.step(answer)[1] == 1.0


def test_same_seed_same_episode_and_random_routes_use_the_env_rng():
    a, b = make(), make()
    infos_a = [a.reset(seed=11)[1] for _ in range(1)] + [a.reset()[1] for _ in range(5)]
    infos_b = [b.reset(seed=11)[1] for _ in range(1)] + [b.reset()[1] for _ in range(5)]
    assert [(i["route_idx"], i["global_instruction"], i["rail_length"]) for i in infos_a] == \
        [(i["route_idx"], i["global_instruction"], i["rail_length"]) for i in infos_b]
    assert len({i["route_idx"] for i in infos_a}) > 1


def test_route_idx_option_is_validated():
    env = make()
    with pytest.raises(ValueError, match="route_idx"):
        env.reset(options={"route_idx": 20})


def test_prompter_and_conversation_follow_verify_info():
    config = env_config(small_city())
    env = make_env(config)
    prompter = make_prompter(config)
    obs, info = env.reset(seed=0, options={"route_idx": 5})
    conversation = EpisodeConversation(prompter)
    conversation.start(obs, info)
    first = conversation.turns[0].text
    assert "[Instruction]\n1. " in first and info["obs_act_seq"] in first and "north" in first
    obs, _, terminated, truncated, info2 = env.step('{"action": "turn_direction(nowhere)"}')
    conversation.record("bad", obs, info2, terminated or truncated)
    assert [t.role for t in conversation.turns] == ["user", "assistant", "user"]
    assert conversation.turns[-1].text.startswith("You failed this trial because you made an incorrect action")
    obs, _, terminated, truncated, info3 = env.step(expert_json(info))
    conversation.record("good", obs, info3, terminated or truncated)
    assert len(conversation.turns) == 1 and info3["obs_act_seq"] in conversation.turns[0].text


def test_vl_prompt_carries_the_grid_and_describes_the_layout():
    config = env_config(small_city(), language_only=False, resolution=32, view_layout="cardinal")
    env = make_env(config)
    obs, info = env.reset(seed=0)
    turn = make_prompter(config).prompt(obs, info)
    assert turn.image is obs and "[front, right,\n back, left]" in turn.text
    assert "You observe an image of 4 views" in info["obs_act_seq"]


def test_missing_street_view_names_the_panorama(tmp_path):
    import shutil

    city = tmp_path / "city"
    shutil.copytree(small_city(), city)
    env = make_env(env_config(city, language_only=False, resolution=32))
    _, info = env.reset(seed=0, options={"route_idx": 0})
    (city / "street_views" / f"{info['pano_id']}.jpg").unlink()
    env2 = make_env(env_config(city, language_only=False, resolution=32))
    with pytest.raises(FileNotFoundError, match=f"panorama {info['pano_id']} \\(route 0, rail point 0\\) not found"):
        env2.reset(seed=0, options={"route_idx": 0})
