"""PPO math: GAE against a per-episode reference, normalisation, the clipped losses and the ratio guard."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from trainers.ppo.ppo_math import compute_gae, normalize_advantages, ppo_losses


def reference_gae(rewards, values, dones, next_value, gamma, lam):
    """Naive per-environment loop: delta_t and the (gamma lambda)-discounted sum until the episode ends."""
    steps, envs = len(rewards), len(rewards[0])
    adv = [[0.0] * envs for _ in range(steps)]
    for e in range(envs):
        for t in range(steps):
            total, discount = 0.0, 1.0
            for k in range(t, steps):
                following = next_value[e] if k + 1 == steps else values[k + 1][e]
                delta = rewards[k][e] + gamma * following * (1 - dones[k][e]) - values[k][e]
                total += discount * delta
                if dones[k][e]:
                    break
                discount *= gamma * lam
            adv[t][e] = total
    return adv


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 7), st.integers(1, 3), st.randoms(use_true_random=False))
def test_gae_matches_reference(steps, envs, rng):
    rewards = [[rng.uniform(-3, 5) for _ in range(envs)] for _ in range(steps)]
    values = [[rng.uniform(-2, 2) for _ in range(envs)] for _ in range(steps)]
    dones = [[float(rng.random() < 0.4) for _ in range(envs)] for _ in range(steps)]
    next_value = [rng.uniform(-2, 2) for _ in range(envs)]
    adv, ret = compute_gae(torch.tensor(rewards), torch.tensor(values), torch.tensor(dones),
                           torch.tensor(next_value), 0.9, 0.95)
    expected = torch.tensor(reference_gae(rewards, values, dones, next_value, 0.9, 0.95))
    assert torch.allclose(adv, expected, atol=1e-5)
    assert torch.allclose(ret, expected + torch.tensor(values), atol=1e-5)


def test_gae_single_terminal_step_is_reward_minus_value():
    adv, ret = compute_gae(torch.tensor([[5.0]]), torch.tensor([[1.5]]), torch.tensor([[1.0]]),
                           torch.tensor([100.0]), 0.9, 0.95)
    assert adv.item() == pytest.approx(3.5)
    assert ret.item() == pytest.approx(5.0)


def test_gae_truncated_steps_get_zero_advantage_with_proper_time_limits():
    rewards = torch.tensor([[-3.0], [-1.0]])
    values = torch.tensor([[0.5], [0.2]])
    dones = torch.tensor([[0.0], [1.0]])
    truncated = torch.tensor([[0.0], [1.0]])
    adv, ret = compute_gae(rewards, values, dones, torch.tensor([0.0]), 0.9, 0.95, truncated)
    assert adv[1].item() == 0.0 and ret[1].item() == pytest.approx(0.2)
    assert adv[0].item() == pytest.approx(-3.0 + 0.9 * 0.2 - 0.5)


def test_normalize_advantages_zero_mean_unit_std():
    out = normalize_advantages(torch.tensor([1.0, 2.0, 3.0, 10.0]))
    assert out.mean().abs() < 1e-6
    assert out.std().item() == pytest.approx(1.0, abs=1e-4)


def _losses(new_lp, old_lp, adv, new_v=(0.0,), old_v=(0.0,), ret=(0.0,)):
    t = lambda xs: torch.tensor(xs, dtype=torch.float32)  # noqa: E731
    return ppo_losses(t(new_lp), t(old_lp), t(adv), t(new_v), t(old_v), t(ret), clip_param=0.1, value_loss_coef=0.5)


def test_policy_loss_is_minus_advantage_at_ratio_one():
    out = _losses([-2.0, -1.0], [-2.0, -1.0], [1.0, -3.0], new_v=[0, 0], old_v=[0, 0], ret=[0, 0])
    assert out.policy_loss.item() == pytest.approx(1.0)
    assert out.approx_kl.item() == pytest.approx(0.0)
    assert out.clip_fraction.item() == 0.0


def test_policy_gain_is_clipped_for_positive_advantage():
    # ratio e^0.5 ~ 1.65 > 1.1 with A > 0: the objective is capped at 1.1 * A.
    out = _losses([0.0], [-0.5], [2.0])
    assert out.policy_loss.item() == pytest.approx(-1.1 * 2.0)
    assert out.clip_fraction.item() == 1.0
    assert not out.ratio_guard_hit


def test_ratio_guard_uses_only_clipped_surrogate():
    # ratio e^3 ~ 20 > 10 with A < 0: min() would give -20 * 2 = -40; the guard keeps the clipped 1.1 * -2.
    out = _losses([0.0], [-3.0], [-2.0])
    assert out.ratio_guard_hit
    assert out.policy_loss.item() == pytest.approx(1.1 * 2.0)


def test_value_loss_is_clipped_pessimistically():
    # New value jumps from 0 to 1 toward return 1; clipped value 0.1 gives the larger error (0.81).
    out = _losses([0.0], [0.0], [0.0], new_v=[1.0], old_v=[0.0], ret=[1.0])
    assert out.value_loss.item() == pytest.approx(0.5 * 0.81)
    assert out.loss.item() == pytest.approx(0.5 * 0.5 * 0.81)


def test_losses_are_differentiable_in_new_log_probs_and_values():
    new_lp = torch.tensor([-1.0, -2.0], requires_grad=True)
    new_v = torch.tensor([0.3, -0.2], requires_grad=True)
    out = ppo_losses(new_lp, torch.tensor([-1.0, -2.0]), torch.tensor([1.0, -1.0]), new_v, torch.tensor([0.3, -0.2]),
                     torch.tensor([1.0, 0.0]), 0.1, 0.5)
    out.loss.backward()
    assert new_lp.grad is not None and not math.isclose(float(new_lp.grad.abs().sum()), 0.0)
    assert new_v.grad is not None and not math.isclose(float(new_v.grad.abs().sum()), 0.0)
