"""The rollout's log-probs and values taken from the sampling pass equal a separate forward's."""

from __future__ import annotations

import pytest
import torch

from trainers.ppo.rollout import RolloutSettings, RolloutWorker, score
from trainers.ppo.storage import RolloutStorage
from trainers.ppo.value_head import PolicyWithValue

GP_L = {"id": "gym_cards/GeneralPoint-oneline-v0", "verify_iter": 3}
GP_VL = {"id": "gym_cards/GeneralPoint-oneline-v0", "verify_iter": 3, "language_only": False}


def _settings(scoring: str) -> RolloutSettings:
    return RolloutSettings(temperature=0.7, top_p=1.0, max_new_tokens=12, thought_prob_coef=0.5,
                           action_fields=["formula"], scoring=scoring)


@pytest.mark.parametrize("model, env_config", [
    ("tiny-llama", GP_L),
    pytest.param("tiny-mllama", GP_VL, marks=[pytest.mark.slow, pytest.mark.timeout(3600)]),
])
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


def _prompt(ids: list[int]):
    from trainers.ppo.sampling import EncodedPrompt

    return EncodedPrompt(list(ids), None, {"input_ids": torch.tensor(ids)})


def test_conversation_cache_continues_episodes_exactly(monkeypatch):
    from trainers.models.loader import load_model
    from trainers.ppo import sampling

    # Many stop tokens, so that answers end at different lengths and leave generated padding behind them.
    monkeypatch.setattr(sampling, "stop_token_ids", lambda loaded: list(range(0, 1300, 4)))
    from trainers.ppo.conversation_cache import ConversationCache
    from trainers.ppo.sampling import sample_answers
    from trainers.ppo.transition import Transition

    loaded = load_model("tiny-llama", device="cpu", for_training=True)
    torch.manual_seed(0)
    policy = PolicyWithValue(loaded.model)
    policy.eval()
    generator = torch.Generator().manual_seed(3)
    vocab = len(loaded.tokenizer)
    prompts = [_prompt(torch.randint(10, vocab, (n,), generator=generator).tolist()) for n in (9, 14, 5)]
    cache = ConversationCache()
    lengths: set[int] = set()
    options = dict(temperature=1.0, top_p=1.0, max_new_tokens=8, score=True, conversation_cache=cache)
    for round_ in range(3):
        torch.manual_seed(round_)
        scored = sample_answers(loaded, policy.backbone, prompts, **options)
        assert cache.continued_rows == (0 if round_ == 0 else 2)
        lengths.update(len(a) for a in scored.answers)
        transitions = [Transition(p.ids, a, [1.0] * len(a)) for p, a in zip(prompts, scored.answers)]
        with torch.no_grad():
            expected_log_probs, expected_values = policy(transitions, 1.0, loaded.pad_token_id)
        log_probs = torch.stack([lp.sum() for lp in scored.token_log_probs])
        assert torch.allclose(log_probs, expected_log_probs, atol=1e-4), round_
        assert torch.allclose(policy.values_from_hidden(scored.prompt_hidden), expected_values, atol=1e-5), round_
        # Rows 0 and 1 go on (answer + a new user turn of different lengths); row 2 starts a new episode.
        feedback = [torch.randint(10, vocab, (n,), generator=generator).tolist() for n in (3, 6)]
        prompts = [_prompt(p.ids + a + f) for p, a, f in zip(prompts[:2], scored.answers, feedback)]
        prompts.append(_prompt(torch.randint(10, vocab, (4 + round_,), generator=generator).tolist()))
    assert len(lengths) > 2


def test_collect_with_the_conversation_cache_matches_forward_scoring():
    from trainers.models.loader import load_model

    loaded = load_model("tiny-llama", device="cpu", for_training=True)
    torch.manual_seed(0)
    policy = PolicyWithValue(loaded.model)
    worker = RolloutWorker(GP_L, num_envs=3, seed=5)
    storage = RolloutStorage(3, 3)
    worker.collect(loaded, policy, storage, _settings("generation"))
    flat = [t for row in storage.transitions for t in row]
    log_probs, values = score(policy, flat, 0.7, loaded.pad_token_id, 8)
    assert torch.allclose(storage.log_probs.flatten(), log_probs, atol=1e-4)
    assert torch.allclose(storage.values.flatten(), values, atol=1e-5)
    _, expected_next = score(policy, storage.bootstrap_states, 0.7, loaded.pad_token_id, 8)
    assert torch.allclose(storage.bootstrap_values, expected_next, atol=1e-5)
