"""The rollout's log-probs and values taken from the sampling pass equal a separate forward's."""

from __future__ import annotations

import pytest
import torch

from trainers.ppo.rollout import RolloutSettings, RolloutWorker
from trainers.ppo.storage import RolloutStorage
from trainers.ppo.value_head import PolicyWithValue

GP_L = {"id": "gym_cards/GeneralPoint-oneline-v0", "verify_iter": 3}
GP_VL = {"id": "gym_cards/GeneralPoint-oneline-v0", "verify_iter": 3, "language_only": False}


def _settings(scoring: str) -> RolloutSettings:
    return RolloutSettings(temperature=0.7, top_p=1.0, max_new_tokens=12, thought_prob_coef=0.5,
                           action_fields=["formula"], scoring=scoring)


@pytest.mark.parametrize("model, env_config", [("tiny-llama", GP_L), ("tiny-mllama", GP_VL)])
def test_generation_scores_match_a_separate_forward(model, env_config):
    from trainers.models.loader import load_model

    loaded = load_model(model, device="cpu", for_training=True)
    torch.manual_seed(0)
    policy = PolicyWithValue(loaded.model)
    worker = RolloutWorker(env_config, num_envs=3, seed=5)
    worker.reset_all()
    # A second round: conversations of different lengths (earlier answers and verifier messages), left-padded.
    for _ in range(2):
        prompts = worker._prompts(loaded)
        lengths = {len(p.ids) for p in prompts}
        with torch.random.fork_rng():
            torch.manual_seed(1)
            transitions, log_probs, values = worker._sample(loaded, policy, prompts, _settings("generation"))
        torch.manual_seed(1)
        rescored_transitions, rescored_log_probs, rescored_values = worker._sample(
            loaded, policy, prompts, _settings("forward"))
        assert [t.answer_ids for t in transitions] == [t.answer_ids for t in rescored_transitions]
        assert any(t.answer_ids for t in transitions)
        assert torch.allclose(log_probs, rescored_log_probs, atol=1e-4), (log_probs, rescored_log_probs)
        assert torch.allclose(values, rescored_values, atol=1e-5), (values, rescored_values)
        worker.collect(loaded, policy, RolloutStorage(1, 3), _settings("generation"))
    assert len(lengths) > 1
