"""GeneralPoints environment: the gymnasium contract, each reward, rule/colour/OOD variants."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.utils.env_checker import check_env

import envs  # noqa: F401  (registers the ids)
from envs.general_points.cards import BLACK_SUITS, FACE_RANKS, RED_SUITS
from envs.general_points.render import RED_INK

ENV_ID = "gym_cards/GeneralPoint-oneline-v0"


def make(**kwargs):
    return gym.make(ENV_ID, **kwargs).unwrapped


def answer(formula, cards=("3", "3", "8", "8")):
    return '{"cards": %s, "number": [3, 3, 8, 8], "formula": "%s"}' % (list(cards), formula)


@pytest.mark.parametrize("language_only", [True, False])
def test_env_checker_passes_without_warnings(language_only):
    env = make(language_only=language_only, resolution=128)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)


def test_fixed_hand_3388_and_its_info():
    env = make()
    observation, info = env.reset(seed=0, options={"cards": ["3", "3", "8", "8"]})
    assert observation == "Cards: ['3', '3', '8', '8']"
    assert info["Plain Cards"] == ["3", "3", "8", "8"]
    assert info["Numbers"] == [3, 3, 8, 8]
    assert info["Solution"] == ["8/(3-8/3)"]
    assert info["Remaining Step"] == 5 and info["Verify Info"] is None
    assert all(len(card) == 2 and card[0] in "HDSC" for card in info["Cards"])


def test_suited_fixed_hand_keeps_its_suits():
    env = make()
    _, info = env.reset(seed=0, options={"cards": ["H3", "S3", "D8", "C8"]})
    assert info["Cards"] == ["H3", "S3", "D8", "C8"]


@pytest.mark.parametrize(
    "formula, reward, terminated, reason",
    [
        ("8/(3-8/3)=24", 5.0, True, None),
        ("8+3+8+3", -1.0, False, "8 is partially correct but the full formula does not match any solution."),
        ("8*3", -2.0, False, "you didn't use numbers: [3, 8]."),
        ("8*3*1*1", -4.0, False, "you used invalid numbers: [1], you didn't use numbers: [3, 8]."),
        ("8/(3-8/3", -1.0, False, "incomplete"),
        ("8 * 3 * (8 / 8)", -3.0, False, "illegal characters."),
        ("__import__('os').system('true')", -3.0, False, "illegal characters."),
    ],
)
def test_reward_categories(formula, reward, terminated, reason):
    env = make()
    env.reset(seed=0, options={"cards": ["3", "3", "8", "8"]})
    _, got, term, trunc, info = env.step(answer(formula))
    assert (got, term, trunc) == (reward, terminated, False)
    if reason is None:
        assert info["Verify Info"] is None
    else:
        assert reason in info["Verify Info"]


def test_unparseable_answer_is_illegal():
    env = make()
    env.reset(seed=0, options={"cards": ["3", "3", "8", "8"]})
    assert env.step("I give up")[1] == -3.0


def test_vision_variant_penalises_wrong_cards_first():
    env = make(language_only=False, resolution=128)
    env.reset(seed=0, options={"cards": ["3", "3", "8", "8"]})
    _, reward, _, _, info = env.step(answer("8/(3-8/3)=24", cards=("3", "3", "8", "9")))
    assert reward == -1.5 and info["Recognized Cards"] is False
    _, reward, terminated, _, info = env.step(answer("8/(3-8/3)=24"))
    assert reward == 5.0 and terminated and info["Recognized Cards"] is True


def test_attempt_budget_then_truncation():
    env = make(verify_iter=3)
    env.reset(seed=0, options={"cards": ["3", "3", "8", "8"]})
    for remaining in (2, 1, 0):
        _, reward, terminated, truncated, info = env.step(answer("8+8+3+3"))
        assert (reward, terminated, truncated, info["Remaining Step"]) == (-1.0, False, False, remaining)
    _, reward, terminated, truncated, _ = env.step(answer("8/(3-8/3)"))
    assert (reward, terminated, truncated) == (-1.0, False, True)
    with pytest.raises(ResetNeeded):
        env.step(answer("8/(3-8/3)"))


def test_face_card_rules_change_numbers():
    hand = {"cards": ["J", "Q", "K", "A"]}
    _, as_ten = make(treat_face_cards_as_10=True).reset(seed=0, options=hand)
    _, ordinal = make(treat_face_cards_as_10=False).reset(seed=0, options=hand)
    assert as_ten["Numbers"] == [10, 10, 10, 1]
    assert ordinal["Numbers"] == [11, 12, 13, 1]


def test_drawn_hands_are_solvable_under_the_active_rule():
    for rule in (True, False):
        env = make(treat_face_cards_as_10=rule)
        env.reset(seed=1)
        for _ in range(200):
            _, info = env.reset()
            assert info["Solution"], info


def test_ood_hands_always_hold_a_face_card():
    env = make(ood=True, treat_face_cards_as_10=False)
    env.reset(seed=3)
    for _ in range(300):
        _, info = env.reset()
        assert any(rank in FACE_RANKS for rank in info["Plain Cards"])


@pytest.mark.parametrize("color, suits", [("black", BLACK_SUITS), ("red", RED_SUITS)])
def test_colour_variants_restrict_suits(color, suits):
    env = make(face_cards_color=color)
    env.reset(seed=5)
    for _ in range(100):
        _, info = env.reset()
        assert all(card[0] in suits for card in info["Cards"])


def _has_red_ink(image: np.ndarray) -> bool:
    return bool(np.any(np.all(np.abs(image.astype(int) - np.array(RED_INK)) < 30, axis=-1)))


def test_vision_observation_draws_the_cards_in_their_ink():
    red = make(language_only=False, face_cards_color="red", resolution=256)
    black = make(language_only=False, face_cards_color="black", resolution=256)
    red_image, _ = red.reset(seed=0)
    black_image, _ = black.reset(seed=0)
    assert red_image.shape == (256, 256, 3) and red_image.dtype == np.uint8
    assert _has_red_ink(red_image) and not _has_red_ink(black_image)


def test_different_hands_render_differently():
    env = make(language_only=False, resolution=192)
    first, _ = env.reset(seed=0, options={"cards": ["SA", "S2", "S3", "S4"]})
    second, _ = env.reset(seed=0, options={"cards": ["SK", "S2", "S3", "S4"]})
    assert not np.array_equal(first, second)


def test_same_seed_same_hands():
    def hands(seed):
        env = make()
        env.reset(seed=seed)
        return [env.reset()[1]["Cards"] for _ in range(20)]

    assert hands(11) == hands(11)
    assert hands(11) != hands(12)


def test_partial_solution_reward_is_opt_in():
    cards = {"cards": ["3", "3", "8", "8"]}
    off = make()
    off.reset(seed=0, options=cards)
    assert off.step(answer("8/(3-8/3"))[1] == -1.0
    on = make(partial_solution_reward=True)
    on.reset(seed=0, options=cards)
    assert on.step(answer("8/(3-8/3"))[1:3] == (1.0, False)
    assert on.step(answer("8/(3-8/"))[1] == -2.0  # a number unused: the numbers rule comes first


def test_lenient_answer_reading_is_opt_in():
    spaced = answer("8 / (3 - 8 / 3) = 24")
    strict, lenient = make(), make(lenient_answer_reading=True)
    for env in (strict, lenient):
        env.reset(seed=0, options={"cards": ["3", "3", "8", "8"]})
    assert strict.step(spaced)[1] == -3.0
    assert lenient.step(spaced)[1] == 5.0


def test_bad_kwargs_and_hands_fail_clearly():
    with pytest.raises(ValueError, match="verify_iter"):
        make(verify_iter=0)
    with pytest.raises(ValueError, match="not a card"):
        make().reset(options={"cards": ["3", "3", "8", "Z"]})
    with pytest.raises(ValueError, match="4 cards"):
        make().reset(options={"cards": ["3", "3", "8"]})
