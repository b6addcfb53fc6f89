"""`tiny-llama-base`: the pre-training corpus, the deterministic build and loading by name. The real build's
scores (about 14 minutes of one core) are a measurement: bench/foundation_model_check.py."""

from __future__ import annotations

import json
import re

import pytest
import torch
from click.testing import CliRunner

from envs.general_points import rewards
from envs.general_points.cards import face_card_rule_text
from trainers.models import foundation_pretraining as fp
from trainers.models.builtin import BUILTIN_MODELS, build_builtin, builtin_path, ensure_builtin

SMALL = fp.FoundationRecipe(records_per_setting=6, multi_turn_share=0.5, steps=3, batch_size=4)


def _setting(prompt: str) -> tuple[bool, int]:
    target = int(re.search(r"You are an expert (\d+) points card game player", prompt).group(1))
    if f"Note that {face_card_rule_text(True)}," in prompt:
        return True, target
    assert f"Note that {face_card_rule_text(False)}," in prompt
    return False, target


def test_corpus_states_the_rule_and_target_and_covers_both_rules_and_several_targets():
    records = fp.corpus_records(SMALL)
    assert len(records) == 2 * len(SMALL.targets) * SMALL.records_per_setting
    seen: dict[tuple[bool, int], int] = {}
    multi_turn = 0
    for record in records:
        face_as_10, target = _setting(record.turns[0][1])
        seen[(face_as_10, target)] = seen.get((face_as_10, target), 0) + 1
        answer = json.loads(record.turns[-1][1])
        faces = [(card, number) for card, number in zip(answer["cards"], answer["number"]) if card in "JQK"]
        expected = {"J": 10, "Q": 10, "K": 10} if face_as_10 else {"J": 11, "Q": 12, "K": 13}
        assert all(number == expected[card] for card, number in faces)
        assert face_as_10 or faces, "an ordinal-rule hand without a face card does not exercise the rule"
        verdict = rewards.verify_answer(record.turns[-1][1], answer["cards"], answer["number"], target,
                                        check_cards=False)
        assert verdict.correct, record.turns
        multi_turn += len(record.turns) > 2
    assert seen == {(rule, target): SMALL.records_per_setting for rule in (True, False) for target in SMALL.targets}
    assert len(SMALL.targets) >= 3 and 24 in SMALL.targets
    assert multi_turn == 2 * len(SMALL.targets) * round(SMALL.records_per_setting * SMALL.multi_turn_share)


def test_corpus_is_fixed_by_the_seed():
    turns = [r.turns for r in fp.corpus_records(SMALL)]
    assert turns == [r.turns for r in fp.corpus_records(SMALL)]
    other = fp.FoundationRecipe(**{**fp.dataclasses.asdict(SMALL), "seed": 1})
    assert turns != [r.turns for r in fp.corpus_records(other)]


def test_only_the_final_answer_is_trained_on():
    loaded = fp._load(ensure_builtin("tiny-llama"))
    record = next(r for r in fp.corpus_records(SMALL) if len(r.turns) > 2)
    example = fp.encode_records(loaded, [record])[0]
    labelled = example["input_ids"][example["labels"] != -100]
    assert loaded.tokenizer.decode(labelled) == record.turns[-1][1] + "<|eot|>"


def _weights(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_build_is_deterministic_and_trains_the_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(fp, "DEFAULT_RECIPE", SMALL)
    for name in ("a", "b"):
        build_builtin("tiny-llama-base", tmp_path / name)
    a, b = (_weights(tmp_path / name) for name in ("a", "b"))
    plain = _weights(ensure_builtin("tiny-llama"))
    assert a.keys() == plain.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)
    assert not all(torch.equal(a[key], plain[key]) for key in a)  # trained, from the plain model's init
    summary = json.loads((tmp_path / "a" / fp.RECORD_FILE).read_text())
    assert summary["recipe"]["steps"] == SMALL.steps and summary["train_tokens"] > 0
    assert summary["records"] == 2 * len(SMALL.targets) * SMALL.records_per_setting
    assert (tmp_path / "a" / fp.RECORD_FILE).read_bytes() == (tmp_path / "b" / fp.RECORD_FILE).read_bytes()


def test_loads_by_name_through_the_loader_and_the_eval_command(tmp_path, monkeypatch):
    from sftvsrl_cli.main import cli
    from trainers.models.loader import load_model

    monkeypatch.setenv("SFTVSRL_CACHE_DIR", str(tmp_path / "cache"))  # a tiny-budget build stays in this test
    monkeypatch.setattr(fp, "DEFAULT_RECIPE", SMALL)
    assert "tiny-llama-base" in BUILTIN_MODELS
    loaded = load_model("tiny-llama-base", device="cpu")
    assert loaded.path == str(builtin_path("tiny-llama-base")) and not loaded.is_vision
    assert type(loaded.model).__name__ == "LlamaForCausalLM"
    assert (builtin_path("tiny-llama-base") / fp.RECORD_FILE).is_file()
    plain = load_model("tiny-llama", device="cpu")
    assert loaded.model.config.to_dict() | {"_name_or_path": ""} == plain.model.config.to_dict() | {"_name_or_path": ""}
    assert loaded.tokenizer.get_vocab() == plain.tokenizer.get_vocab()
    result = CliRunner().invoke(cli, ["eval", "--model", "tiny-llama-base", "--split", "rule-ood", "--num-traj", "2",
                                      "--verify-iter", "1", "--max-new-tokens", "8", "--out", str(tmp_path / "eval"),
                                      "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["splits"]["rule-ood"]["num_traj"] == 2
