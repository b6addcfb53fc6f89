"""`sftvsrl eval` (local checkpoints and reference policies), `recog` and `report`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from evaluators.report import build_report, load_summaries, to_markdown
from sftvsrl_cli.main import cli


def _invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_eval_reference_policies_and_the_report_table(tmp_path):
    for label, policy in (("Init", "garbage"), ("RL", "oracle")):
        result = _invoke("eval", "--policy", policy, "--label", label, "--num-traj", "6", "--out", str(tmp_path / label))
        assert result.exit_code == 0, result.output
    report = build_report(load_summaries([str(tmp_path / "Init"), str(tmp_path / "RL")]))
    assert report["columns"] == ["id", "rule-ood"] and report["baseline"] == "Init"
    rl = report["rows"][1]["cells"]["rule-ood"]
    assert rl["rate"] == 1.0 and rl["delta_pp"] == pytest.approx(100.0) and rl["n"] == 6
    markdown = _invoke("report", f"Init={tmp_path / 'Init'}", f"RL={tmp_path / 'RL'}", "--markdown").stdout
    assert "| RL | 100.0 ± 0.0 (+100.0) | 100.0 ± 0.0 (+100.0) |" in markdown
    as_json = json.loads(_invoke("report", str(tmp_path), "--baseline", "RL", "--json").stdout)  # folder of runs
    assert [row["label"] for row in as_json["rows"]] == ["Init", "RL"]
    assert as_json["rows"][0]["cells"]["id"]["delta_pp"] == pytest.approx(-100.0)


def test_report_deltas_and_standard_errors_from_summaries():
    def summary(label, rate, n=200):
        metric = {"rate": rate, "stderr": (rate * (1 - rate) / n) ** 0.5, "n": n, "hits": int(rate * n)}
        return {"label": label, "splits": {"rule-ood": {"primary_metric": "success", "metrics": {"success": metric}},
                                           "id": {"primary_metric": "success", "metrics": {"success": metric}}}}

    report = build_report([summary("Init", 0.115), summary("SFT", 0.034), summary("RL", 0.15)])
    assert report["columns"] == ["id", "rule-ood"]
    assert report["rows"][1]["cells"]["rule-ood"]["delta_pp"] == pytest.approx(-8.1)
    assert report["rows"][2]["cells"]["rule-ood"]["delta_pp"] == pytest.approx(3.5)
    assert "15.0 ± 2.5 (+3.5)" in to_markdown(report)
    with pytest.raises(ValueError, match="baseline"):
        build_report([summary("Init", 0.1)], baseline="SFT")


def test_eval_accepts_a_published_config_and_overrides(tmp_path):
    result = _invoke("eval", "--policy", "oracle", "-f", "gp/eval_gp_l_rule_ood", "--num_traj=3", "--seed=5",
                     "--out", str(tmp_path), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert list(summary["splits"]) == ["rule-ood"]  # the config's split, recognised
    assert summary["splits"]["rule-ood"]["num_traj"] == 3 and summary["splits"]["rule-ood"]["seed"] == 5
    bad = _invoke("eval", "--policy", "oracle", "--split", "visual-ood", "--out", str(tmp_path / "x"))
    assert bad.exit_code == 2 and "rule-ood" in bad.output


def test_eval_a_local_checkpoint_batched_equals_one_at_a_time(tmp_path):
    common = ["eval", "--model", "tiny-llama", "--split", "rule-ood", "--num-traj", "3", "--verify-iter", "2",
              "--max-new-tokens", "6"]
    batched = _invoke(*common, "--batch-size", "3", "--out", str(tmp_path / "b"))
    single = _invoke(*common, "--batch-size", "1", "--out", str(tmp_path / "s"))
    assert batched.exit_code == 0 and single.exit_code == 0, batched.output + single.output
    records = [json.loads(line) for line in (tmp_path / "b" / "rule-ood" / "steps.jsonl").read_text().splitlines()]
    answers = [r for r in records if r["type"] == "step" and r["scored"]]
    assert len(answers) == 6 and all(isinstance(r["output"], str) and r["verify_info"] for r in answers)
    one_by_one = (tmp_path / "s" / "rule-ood" / "steps.jsonl").read_text()
    assert [r["output"] for r in answers] == [json.loads(l)["output"] for l in one_by_one.splitlines()
                                              if json.loads(l)["type"] == "step" and json.loads(l)["scored"]]


def test_recog_reports_per_card_and_per_hand_accuracy(tmp_path):
    result = _invoke("recog", "--policy", "oracle", "--num-traj", "3", "--out", str(tmp_path),
                     "--env_config.resolution=128", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["splits"]) == {"id", "visual-ood"}
    for split in summary["splits"].values():
        assert split["verify_iter"] == 1
        assert split["metrics"]["card_accuracy"]["n"] == 12 and split["metrics"]["recognition"]["rate"] == 1.0
    garbage = json.loads(_invoke("recog", "--policy", "garbage", "--num-traj", "3", "--out", str(tmp_path / "g"),
                                 "--env_config.resolution=128", "--json").stdout)
    assert garbage["splits"]["id"]["metrics"]["recognition"]["rate"] == 0.0
    assert garbage["splits"]["id"]["num_model_answers"] == 3  # one attempt per hand


def test_plot_of_success_against_compute(tmp_path):
    pytest.importorskip("matplotlib")
    log = tmp_path / "rl.jsonl"
    log.write_text("".join(json.dumps({"update": i, "compute_flops": 1e18 * (i + 1), "eval/id/success": 0.2 + 0.05 * i,
                                       "eval/rule-ood/success": 0.1 + 0.01 * i}) + "\n" for i in range(5)))
    _invoke("eval", "--policy", "oracle", "--num-traj", "2", "--out", str(tmp_path / "RL"))
    result = _invoke("report", str(tmp_path / "RL"), "--plot", str(tmp_path / "curve.png"), "--log", f"RL={log}")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
