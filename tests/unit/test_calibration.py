"""`signals calibrate` and `signals evaluate`: grouped folds, fits judged out of fold, intervals, labels."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from detectors.adapters import read_trajectories
from detectors.calibration import bootstrap, grouped_folds, logistic, out_of_fold
from detectors.fleet import with_cohorts
from detectors.labelled import load, read_label_file
from detectors.session import analyze
from detectors.triage import load_config
from streams.cli import main

FIXTURE = Path("tests/fixtures/tau_bench_cohorts.json")  # 8 retail tasks, 3-4 runs each, mixed outcomes


@given(st.lists(st.sampled_from("abcdefghij"), min_size=1, max_size=60), st.integers(1, 6), st.integers(0, 5))
def test_grouped_folds_never_split_a_group(groups: list[str], k: int, seed: int) -> None:
    folds = grouped_folds(groups, k, seed)
    for group in set(groups):
        assert len({f for g, f in zip(groups, folds, strict=True) if g == group}) == 1
    assert set(folds) <= set(range(k))
    assert len(set(folds)) == min(k, len(set(groups)))  # every fold gets a group while there are enough


def test_grouped_folds_balance_sizes() -> None:
    groups = [f"g{i}" for i in range(20) for _ in range(3)]
    sizes = np.bincount(grouped_folds(groups, 5))
    assert sizes.tolist() == [12] * 5


def test_logistic_recovers_a_planted_effect_on_the_raw_scale() -> None:
    rng = np.random.default_rng(1)
    X = np.c_[rng.normal(5, 2, 4000), rng.normal(0, 1, 4000)]
    y = (rng.random(4000) < 1 / (1 + np.exp(-(-3 + 0.6 * X[:, 0])))).astype(float)
    bias, w = logistic(X, y, 0.01)
    assert abs(w[0] - 0.6) < 0.1 and abs(w[1]) < 0.1 and abs(bias + 3) < 0.4


def test_out_of_fold_scores_never_see_their_own_labels() -> None:
    data = load([str(FIXTURE)])
    names = ["tool_errors", "length", "execution.failure"]
    trajectory, combined = out_of_fold(data, names, folds=4)
    fold = grouped_folds(data.groups, 4)
    flipped = [not y if f == 0 else y for y, f in zip(data.failed, fold, strict=True)]
    data.failed = flipped
    again_t, again_c = out_of_fold(data, names, folds=4)
    for i, f in enumerate(fold):
        if f == 0:  # fold 0's labels changed, its scores (fitted on the other folds) did not
            assert (again_t[i], again_c[i]) == (trajectory[i], combined[i])
    assert any(again_c[i] != combined[i] for i, f in enumerate(fold) if f != 0)


def test_bootstrap_interval_brackets_the_statistic() -> None:
    values = [float(i % 7) for i in range(200)]
    low, high = bootstrap(lambda rows: sum(values[i] for i in rows) / len(rows), len(values), rounds=300)
    assert low < sum(values) / len(values) < high and high - low < 1.0


def test_labels_file_and_feedback_events_are_label_sources(tmp_path) -> None:
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"id": "c1", "label": "failure"}\n{"id": "c2", "label": "fine"}\n')
    assert read_label_file(str(labels)) == {"c1": True, "c2": False}
    events = tmp_path / "events.jsonl"
    lines = [{"kind": "user", "trajectory_id": t, "seq": 0, "text": "hi"} for t in ("c1", "c2", "c3")]
    lines.append({"kind": "feedback", "trajectory_id": "c3", "seq": 1, "score": 0.1})
    events.write_text("\n".join(json.dumps(line) for line in lines))
    data = load([str(events)], labels=read_label_file(str(labels)))
    assert dict(zip([r.id for r in data.reports], data.failed, strict=True)) == {"c1": True, "c2": False, "c3": True}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "c1", "label": "maybe"}\n')
    assert main(["evaluate", str(events), "--labels", str(bad)]) == 2


def test_scoring_never_reads_the_reward_or_info(tmp_path) -> None:
    records = json.loads(FIXTURE.read_text())
    blinded = [{**{k: v for k, v in r.items() if k != "info"}, "reward": 0.0} for r in records]
    original, blind = tmp_path / "original.json", tmp_path / "blind.json"
    original.write_text(json.dumps([{**r, "info": {"task": {"actions": ["secret"]}}} for r in records]))
    blind.write_text(json.dumps(blinded))
    rows = {}
    for path in (original, blind):
        reports = with_cohorts([analyze(t.id, t.events) for t in read_trajectories(str(path))])
        rows[path.name] = [(r.id, r.triage_score, r.trajectory_score, r.reasons) for r in reports]
    assert rows["original.json"] == rows["blind.json"]
    assert len({score for _, score, _, _ in rows["blind.json"]}) > 10  # real scores, not one constant


def test_calibrate_writes_a_config_that_analyze_reads(tmp_path, capsys) -> None:
    out = tmp_path / "triage.toml"
    assert main(["calibrate", str(FIXTURE), "--folds", "4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "held-out folds (grouped by task, 4 folds)" in printed and f"wrote {out}" in printed
    config = load_config(out)
    assert config.weights and "signals calibrate" in config.source and str(tmp_path) in config.source
    assert main(["analyze", "--format", "jsonl", "--no-cohort", "--triage-config", str(out), str(FIXTURE)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 32 and all("trajectory_score" not in row for row in rows)
    biased = tmp_path / "bias.toml"
    biased.write_text("bias = 2.0\n")  # no weights: every trajectory scores sigmoid(2)
    assert main(["analyze", "--format", "jsonl", "--no-cohort", "--triage-config", str(biased), str(FIXTURE)]) == 0
    scores = {json.loads(line)["triage_score"] for line in capsys.readouterr().out.splitlines()}
    assert scores == {round(1 / (1 + math.exp(-2.0)), 4)}


def test_analyze_prints_the_combined_score_with_its_parts(capsys) -> None:
    assert main(["analyze", "--format", "jsonl", str(FIXTURE)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all(row["cohort"]["basis"] == "task" and row["cohort"]["peers"] >= 2 for row in rows)
    assert all(row["reasons"][0].startswith("cohort") for row in rows)
    assert any(row["triage_score"] != row["trajectory_score"] for row in rows)
    assert main(["analyze", "--format", "jsonl", "--no-cohort", str(FIXTURE)]) == 0
    alone = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["triage_score"] for row in alone] == [row["trajectory_score"] for row in rows]


def test_evaluate_reports_slices_samples_intervals_and_ablation(tmp_path, capsys) -> None:
    plot = tmp_path / "curves.png"
    args = ["evaluate", str(FIXTURE), "--folds", "4", "--n", "8", "--bootstrap", "60", "--random-seeds", "12",
            "--format", "json"]
    assert main([*args, "--plot", str(plot)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["trajectories"] == 32 and result["group"] == "task"
    pooled = result["slices"][0]
    assert pooled["slice"] == "pooled"
    for cell in pooled["auc"].values():
        assert cell["low"] <= cell["value"] <= cell["high"]
    row = pooled["samples"]["8"]
    assert set(row) >= {"signals", "heuristic", "random", "stratified", "diverse", "lift (signals / random)"}
    assert math.isclose(row["lift (signals / random)"], row["signals"]["value"] / row["random"]["value"], rel_tol=1e-3)
    majority = result["majority_failed_cohorts"]
    assert majority["successes"] + majority["failures"] <= 32 and majority["successes_in_top_8"] <= majority["successes"]
    names = [e["evidence"] for e in result["evidence"]]
    assert names[0] == "(all, cross-validated)" and "cohort" in names and "tool_errors" in names
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_load_and_the_worker_read_the_triage_config_and_refuse_a_bad_one(tmp_path, monkeypatch, capsys) -> None:
    from streams.cli.commands.flags import checked_engine
    from streams.settings import Settings

    biased = tmp_path / "bias.toml"
    biased.write_text("bias = -3.0\n")
    monkeypatch.setenv("SIGNALS_TRIAGE_CONFIG", str(biased))
    engine = checked_engine(Settings.from_env())
    assert engine.triage.bias == -3.0 and engine.triage.weights == {}
    monkeypatch.setenv("SIGNALS_TRIAGE_CONFIG", str(tmp_path / "missing.toml"))
    for command in (["worker"], ["load", "--dsn", f"chdb://{tmp_path}/ch", str(FIXTURE)]):
        assert main(command) == 2
        err = capsys.readouterr().err
        assert "missing.toml" in err and "SIGNALS_TRIAGE_CONFIG" in err
