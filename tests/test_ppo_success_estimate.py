"""The logged episode success estimate: equal to the plain rate on whole episodes, unbiased on a short window."""

from __future__ import annotations

import random

from trainers.ppo.success_estimate import StepsByDepth


def record_episode(tally: StepsByDepth, steps: int, succeeded: bool) -> None:
    for depth in range(steps):
        last = depth == steps - 1
        tally.record(depth, ended=last, succeeded=last and succeeded)


def test_whole_episodes_give_the_plain_success_rate():
    tally = StepsByDepth()
    outcomes = [(1, True), (3, True), (5, False), (5, False), (2, True), (5, False), (4, True), (5, False)]
    for steps, succeeded in outcomes:
        record_episode(tally, steps, succeeded)
    assert abs(tally.success_rate() - 4 / 8) < 1e-12


def simulate_window(envs: int, rounds: int, hits: list[float], seed: int) -> tuple[float, StepsByDepth]:
    """Environments that all start together and run `rounds` steps; attempt k succeeds with `hits[k]`, an
    episode fails after len(hits) misses. Returns (success rate of the episodes that ended, tally)."""
    rng = random.Random(seed)
    tally = StepsByDepth()
    ended = succeeded = 0
    for _ in range(envs):
        depth = 0
        for _ in range(rounds):
            success = rng.random() < hits[depth]
            done = success or depth == len(hits) - 1
            tally.record(depth, done, success)
            if done:
                ended += 1
                succeeded += success
                depth = 0
            else:
                depth += 1
    return succeeded / ended, tally


def test_a_window_of_synchronised_starts_is_biased_but_the_estimate_is_not():
    hits = [0.14, 0.03, 0.03, 0.03, 0.03]  # like the tiny GP-L init: retries seldom succeed
    truth = 1 - 0.86 * 0.97**4  # 0.239
    plain, tally = simulate_window(envs=20000, rounds=6, hits=hits, seed=0)
    assert plain > truth + 0.05  # only short, i.e. successful, episodes end in the first window
    assert abs(tally.success_rate() - truth) < 0.01


def test_undefined_while_episodes_run_past_the_window():
    tally = StepsByDepth()
    tally.record(0, ended=False, succeeded=False)
    tally.record(1, ended=False, succeeded=False)
    assert tally.success_rate() is None
    assert StepsByDepth().success_rate() is None


def test_ranks_merge_into_one_tally():
    _, first = simulate_window(envs=50, rounds=6, hits=[0.2] * 5, seed=1)
    _, second = simulate_window(envs=70, rounds=9, hits=[0.2] * 5, seed=2)
    merged = StepsByDepth.from_lists(first.as_lists())
    merged.merge(StepsByDepth.from_lists(second.as_lists()))
    assert merged.steps == [a + b for a, b in zip(first.steps, second.steps)]
    assert merged.successes == [a + b for a, b in zip(first.successes, second.successes)]
    assert merged.endings == [a + b for a, b in zip(first.endings, second.endings)]


def test_each_episodes_depth_survives_a_checkpoint():
    import json

    from trainers.ppo.rollout import RolloutWorker
    from trainers.ppo.rollout_stats import RolloutStats

    config = {"id": "gym_cards/GeneralPoint-oneline-v0", "verify_iter": 5}
    worker = RolloutWorker(config, num_envs=2, seed=0)
    worker.reset_all()
    worker._step(0, "no formula", RolloutStats())
    resumed = RolloutWorker(config, num_envs=2, seed=0)
    resumed.load_state_dict(json.loads(json.dumps(worker.state_dict())))
    assert resumed.depths == [1, 0]
