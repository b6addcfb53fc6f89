"""Scoring a mini-batch with an episode's turns packed into one forward gives each turn's own log-prob,
value and gradient."""

from __future__ import annotations

import torch

from trainers.ppo.rollout import RolloutSettings, RolloutWorker
from trainers.ppo.storage import RolloutStorage
from trainers.ppo.value_head import PolicyWithValue, _pack

GP_L = {"id": "gym_cards/GeneralPoint-oneline-v0", "verify_iter": 3}


def test_pack_reads_prefixes_from_the_longest_conversation():
    carriers, carrier_of = _pack([[1, 2], [1, 2, 3, 4], [1, 3], [5], [1, 2, 3]])
    assert carriers == [[1, 2, 3, 4], [1, 3], [5]]
    assert carrier_of == [0, 0, 1, 2, 0]


def test_packed_minibatch_scores_like_one_forward_per_turn():
    from trainers.models.loader import load_model

    loaded = load_model("tiny-llama", device="cpu", for_training=True)
    torch.manual_seed(0)
    policy = PolicyWithValue(loaded.model)
    worker = RolloutWorker(GP_L, num_envs=3, seed=5)
    storage = RolloutStorage(4, 3)
    settings = RolloutSettings(temperature=0.7, top_p=1.0, max_new_tokens=12, thought_prob_coef=0.5,
                               action_fields=["formula"])
    torch.manual_seed(1)
    worker.collect(loaded, policy, storage, settings)
    (batch,) = storage.minibatches(12, torch.Generator().manual_seed(0))
    transitions = [storage.transitions[i // 3][i % 3] for i in batch]
    sequences = [t.prompt_ids + t.answer_ids for t in transitions]
    carriers, _ = _pack(sequences)
    assert len(carriers) < len(transitions)  # later turns extend earlier ones, token for token

    policy.train()
    packed_log_probs, packed_values = policy(transitions, 0.7, loaded.pad_token_id)
    (packed_log_probs.sum() + packed_values.sum()).backward()
    packed_grads = [p.grad.clone() for p in policy.parameters()]
    policy.zero_grad()
    single = [policy([t], 0.7, loaded.pad_token_id) for t in transitions]
    log_probs = torch.cat([lp for lp, _ in single])
    values = torch.cat([v for _, v in single])
    (log_probs.sum() + values.sum()).backward()
    assert torch.allclose(packed_log_probs, log_probs, atol=1e-4)
    assert torch.allclose(packed_values, values, atol=1e-5)
    for packed, separate in zip(packed_grads, (p.grad for p in policy.parameters())):
        assert torch.allclose(packed, separate, atol=1e-4, rtol=1e-3)


def test_minibatches_keep_episodes_together_and_cover_the_buffer():
    storage = RolloutStorage(4, 2)
    storage.dones[1, 0] = 1  # env 0: rounds 0-1, then 2-3; env 1: rounds 0-3
    assert sorted(storage.episode_chains()) == [[0, 2], [1, 3, 5, 7], [4, 6]]
    batches = list(storage.minibatches(3, torch.Generator().manual_seed(0)))
    assert sorted(i for b in batches for i in b) == list(range(8))
    order = [i for b in batches for i in b]
    for chain in storage.episode_chains():
        start = order.index(chain[0])
        assert order[start:start + len(chain)] == chain
