"""Locating the action field of an answer in its tokens, for any tokenizer."""

import pytest

from trainers.ppo.action_logprob import answer_token_weights, field_char_offset, first_token_at


def test_field_offset_finds_last_key_occurrence():
    text = '{"cards": ["A"], "formula": "x", "formula": "1+2*3*4=24"}'
    assert field_char_offset(text, ["formula"]) == text.rindex('"formula"')
    assert field_char_offset("formula: 1+2", ["formula"]) == 0
    assert field_char_offset("no field here, formula mentioned", ["formula"]) is None
    assert field_char_offset('{"action": "forward()"}', ["formula", "action"]) == 1


def _char_tokenizer():
    vocab = [chr(c) for c in range(32, 127)]
    return [vocab.index(c) for c in ""], (lambda ids: "".join(vocab[i] for i in ids)), vocab


@pytest.mark.parametrize("piece_sizes", [[1], [3], [1, 4, 2], [7, 1]])
def test_weights_split_at_field_for_any_token_granularity(piece_sizes):
    text = '{"cards": ["A", "3"], "number": [1, 3], "formula": "(1+3)*6=24"}'
    pieces, position, k = [], 0, 0
    while position < len(text):  # a tokenizer whose tokens are pieces of varying length
        size = piece_sizes[k % len(piece_sizes)]
        pieces.append(text[position:position + size])
        position += size
        k += 1
    ids = list(range(len(pieces)))
    decode = lambda token_ids: "".join(pieces[i] for i in token_ids)  # noqa: E731
    weights = answer_token_weights(ids, decode, ["formula"], 0.5)
    boundary = weights.index(1.0)
    assert all(w == 0.5 for w in weights[:boundary]) and all(w == 1.0 for w in weights[boundary:])
    field_at = text.index('"formula"')
    # The boundary token is the one holding the field's first character.
    assert len(decode(ids[:boundary])) <= field_at < len(decode(ids[:boundary + 1]))


def test_answer_without_field_counts_as_action_everywhere():
    decode = lambda ids: "".join("ab"[i] for i in ids)  # noqa: E731
    assert answer_token_weights([0, 1, 0], decode, ["formula"], 0.5) == [1.0, 1.0, 1.0]
    assert answer_token_weights([], decode, ["formula"], 0.5) == []


def test_first_token_at_uses_logarithmic_decodes():
    calls = []
    ids = list(range(512))

    def decode(token_ids):
        calls.append(len(token_ids))
        return "x" * len(token_ids)

    assert first_token_at(ids, decode, 300) == 300
    assert len(calls) <= 10


def test_real_tokenizer_boundary_on_tiny_llama():
    from trainers.models.loader import load_model

    loaded = load_model("tiny-llama")
    answer = '{"cards": ["K", "2", "3", "4"], "number": [10, 2, 3, 4], "formula": "10*3-2-4=24"}'
    ids = loaded.tokenizer(answer, add_special_tokens=False)["input_ids"] + [loaded.tokenizer.eos_token_id]
    decode = lambda token_ids: loaded.tokenizer.decode(token_ids, skip_special_tokens=True)  # noqa: E731
    weights = answer_token_weights(ids, decode, ["formula"], 0.5)
    boundary = weights.index(1.0)
    assert decode(ids[boundary:]).lstrip(' ,').startswith('"formula"') or decode(ids[boundary:]).startswith(
        decode(ids[boundary:boundary + 1]))
    assert '"formula"' not in decode(ids[:boundary])
    assert weights[-1] == 1.0  # the end-of-turn token belongs to the action


def test_action_field_defaults_per_environment():
    from trainers.config import load_config
    from trainers.config.schema import ExperimentConfig
    from trainers.ppo.config import PPOTrainConfig

    gp = PPOTrainConfig(load_config(ExperimentConfig, "gp/rl_gp_l"))
    virl = PPOTrainConfig(load_config(ExperimentConfig, "virl/rl_virl_l"))
    custom = PPOTrainConfig(load_config(ExperimentConfig, "gp/rl_gp_l", ["--prompt_config.pattern_language=[answer]"]))
    assert gp.action_fields == ["formula"] and virl.action_fields == ["action"] and custom.action_fields == ["answer"]
