"""The PPO update moves the policy toward rewarded answers; the critic and the first ratio behave."""

from __future__ import annotations

import pytest
import torch

from trainers.ppo.engine import PlainEngine
from trainers.ppo.settings import ReturnSettings
from trainers.ppo.storage import RolloutStorage
from trainers.ppo.update import UpdateSettings, ppo_update
from trainers.ppo.transition import Transition
from trainers.ppo.value_head import PolicyWithValue, ValueHead, hidden_size_of

GOOD = '{"cards": ["3", "3", "8", "8"], "number": [3, 3, 8, 8], "formula": "8/(3-8/3)=24"}'
BAD = '{"cards": ["3", "3", "8", "8"], "number": [3, 3, 8, 8], "formula": "3+3+8+8=24"}'


@pytest.fixture(scope="module")
def loaded():
    from trainers.models.loader import load_model

    return load_model("tiny-llama", device="cpu", for_training=True)


def _transition(loaded, answer: str) -> Transition:
    from trainers.ppo.action_logprob import answer_token_weights

    messages = [{"role": "user", "content": "Cards: ['3', '3', '8', '8']. Make 24."}]
    prompt = loaded.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = loaded.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = loaded.tokenizer(answer, add_special_tokens=False)["input_ids"] + [loaded.tokenizer.eos_token_id]
    decode = lambda ids: loaded.tokenizer.decode(ids, skip_special_tokens=True)  # noqa: E731
    return Transition(prompt_ids, answer_ids, answer_token_weights(answer_ids, decode, ["formula"], 0.5))


def _policy(loaded) -> PolicyWithValue:
    torch.manual_seed(0)
    backbone = type(loaded.model)(loaded.model.config)
    backbone.load_state_dict(loaded.model.state_dict())
    return PolicyWithValue(backbone, ValueHead(hidden_size_of(backbone)))


def _storage(policy, transitions, rewards, pad_id) -> RolloutStorage:
    storage = RolloutStorage(1, len(transitions))
    with torch.no_grad():
        log_probs, values = policy(transitions, 1.0, pad_id)
    storage.add_round(transitions, log_probs, values, rewards, [True] * len(transitions), [False] * len(transitions))
    storage.finish(ReturnSettings(gamma=0.9, gae_lambda=0.95))
    return storage


def test_value_head_is_sized_from_the_model(loaded):
    head = ValueHead(hidden_size_of(loaded.model))
    hidden = loaded.model.config.hidden_size
    assert head.net[0].in_features == hidden and head.net[0].out_features == hidden // 4
    assert head.net[2].out_features == hidden // 8 and head.net[4].out_features == 1


def test_update_raises_log_prob_of_rewarded_answer(loaded):
    policy = _policy(loaded)
    good, bad = _transition(loaded, GOOD), _transition(loaded, BAD)
    storage = _storage(policy, [good, bad], [5.0, -3.0], loaded.pad_token_id)
    before = storage.log_probs[0].clone()
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-4, eps=1e-7)
    engine = PlainEngine(policy, optimizer, grad_accum_steps=2, max_grad_norm=1.0)
    settings = UpdateSettings(ppo_epoch=4, mini_batch_size=1, clip_param=0.1, value_loss_coef=0.5, temperature=1.0)
    stats = ppo_update(engine, storage, settings, loaded.pad_token_id, torch.Generator().manual_seed(0))
    with torch.no_grad():
        after, values = policy([good, bad], 1.0, loaded.pad_token_id)
    assert after[0] > before[0] + 0.05, (before, after)
    assert after[1] < before[1] - 0.05, (before, after)
    assert after[0] - after[1] > before[0] - before[1]
    assert stats["optimizer_steps"] == 4 and stats["grad_norm"] is not None
    # The critic moved toward the returns: the rewarded answer's state is worth more than before.
    assert values[0] > storage.values[0, 0]


def test_first_mini_batch_ratio_is_exactly_one(loaded):
    policy = _policy(loaded)
    transitions = [_transition(loaded, GOOD), _transition(loaded, BAD), _transition(loaded, "garbage")]
    storage = _storage(policy, transitions, [5.0, -3.0, -3.0], loaded.pad_token_id)
    policy.train()
    # Scored together with padding during the rollout, alone or in another grouping during the update.
    for group in ([0], [2, 1], [1, 0, 2]):
        with torch.no_grad():
            log_probs, values = policy([transitions[i] for i in group], 1.0, loaded.pad_token_id)
        assert torch.allclose(log_probs, storage.log_probs[0, group], atol=1e-4)
        assert torch.allclose(values, storage.values[0, group], atol=1e-5)


def test_thought_tokens_are_weighted(loaded):
    policy = _policy(loaded)
    full = _transition(loaded, GOOD)
    unweighted = Transition(full.prompt_ids, full.answer_ids, [1.0] * len(full.answer_ids))
    action_only = Transition(full.prompt_ids, full.answer_ids, [0.0 if w < 1 else 1.0 for w in full.answer_weights])
    with torch.no_grad():
        lp, _ = policy([full, unweighted, action_only], 1.0, loaded.pad_token_id)
    thought = lp[1] - lp[2]
    assert lp[0].item() == pytest.approx((0.5 * thought + lp[2]).item(), abs=1e-4)


def test_critic_warmup_fits_returns_without_touching_the_policy(loaded):
    from trainers.ppo.update import critic_warmup

    policy = _policy(loaded)
    transitions = [_transition(loaded, GOOD), _transition(loaded, BAD)]
    transitions[1].prompt_ids = transitions[1].prompt_ids + transitions[0].answer_ids[:3]  # another state
    storage = _storage(policy, transitions, [5.0, -3.0], loaded.pad_token_id)
    backbone_before = {n: p.clone() for n, p in policy.backbone.named_parameters()}
    engine = PlainEngine(policy, torch.optim.Adam(policy.parameters()), 1, 1.0)
    error = critic_warmup(engine, storage, epochs=200, mini_batch_size=2, pad_id=loaded.pad_token_id, lr=1e-2,
                          generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        _, values = policy(transitions, 1.0, loaded.pad_token_id)
    assert error < 0.5
    assert torch.allclose(values, storage.returns[0], atol=0.5)
    assert all(torch.equal(p, backbone_before[n]) for n, p in policy.backbone.named_parameters())


def test_value_loss_can_be_kept_off_the_backbone(loaded):
    policy = _policy(loaded)
    policy.value_grad_to_backbone = False
    transitions = [_transition(loaded, GOOD), _transition(loaded, BAD)]
    _, values = policy(transitions, 1.0, loaded.pad_token_id)
    (values ** 2).sum().backward()
    assert all(p.grad is None or not p.grad.any() for p in policy.backbone.parameters())
    assert all(p.grad is not None and p.grad.any() for p in policy.value_head.parameters())

    policy.zero_grad(set_to_none=True)
    policy.value_grad_to_backbone = True
    _, values = policy(transitions, 1.0, loaded.pad_token_id)
    (values ** 2).sum().backward()
    assert any(p.grad is not None and p.grad.any() for p in policy.backbone.parameters())


def test_length_normalised_ratio_keeps_a_small_per_token_step_inside_the_clip(loaded):
    from trainers.ppo.update import answer_lengths

    good = _transition(loaded, GOOD)
    length = answer_lengths([good])
    assert length.item() == pytest.approx(sum(good.answer_weights))
    # A step that moves each weighted token's log-prob by 0.02 moves the whole answer's by 0.02 * length:
    # far outside a 0.1 clip as a sequence ratio, inside it as a length-normalised one.
    old = torch.tensor([-30.0])
    new = old + 0.02 * length
    assert torch.exp(new - old).item() > 1.1
    assert torch.exp((new - old) / length).item() < 1.1


def test_update_with_length_normalised_ratio_still_prefers_the_rewarded_answer(loaded):
    policy = _policy(loaded)
    policy.value_grad_to_backbone = False
    good, bad = _transition(loaded, GOOD), _transition(loaded, BAD)
    storage = _storage(policy, [good, bad], [5.0, -3.0], loaded.pad_token_id)
    before = storage.log_probs[0].clone()
    engine = PlainEngine(policy, torch.optim.Adam(policy.parameters(), lr=1e-4, eps=1e-7), 2, 1.0)
    settings = UpdateSettings(ppo_epoch=4, mini_batch_size=1, clip_param=0.1, value_loss_coef=0.5, temperature=1.0,
                              ratio_normalization="length")
    ppo_update(engine, storage, settings, loaded.pad_token_id, torch.Generator().manual_seed(0))
    with torch.no_grad():
        after, _ = policy([good, bad], 1.0, loaded.pad_token_id)
    assert after[0] > before[0] and after[1] < before[1], (before, after)
