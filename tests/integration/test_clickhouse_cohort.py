"""Cohort evidence in ClickHouse: `signals sample` computes what `signals analyze` computes in Python."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

from streams.cli import main
from tests.support.chdb import chdb_dsn

FIXTURE = "tests/fixtures/tau_bench_cohorts.json"  # 8 retail tasks, 3-4 runs each


def _jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_sampled_cohorts_and_scores_equal_the_offline_analysis(capsys) -> None:
    args = ["--dsn", chdb_dsn(), "--database", f"cohort_{uuid.uuid4().hex[:10]}"]
    assert main(["analyze", "--format", "jsonl", FIXTURE]) == 0
    offline = {row["id"]: row for row in _jsonl(capsys.readouterr().out)}
    assert main(["load", *args, FIXTURE]) == 0
    capsys.readouterr()
    assert main(["sample", *args, "--strategy", "signals", "--n", "32", "--format", "jsonl"]) == 0
    sampled = _jsonl(capsys.readouterr().out)
    assert {row["id"] for row in sampled} == set(offline)
    for row in sampled:
        expected = offline[row["id"]]
        assert row["cohort"] == expected["cohort"], row["id"]
        assert math.isclose(row["trajectory_score"], expected["trajectory_score"], abs_tol=1e-4)
        assert math.isclose(row["triage_score"], expected["triage_score"], abs_tol=2e-4), row["id"]
    scores = [row["triage_score"] for row in sampled]
    assert scores == sorted(scores, reverse=True)
    assert "peers (task) ended differently" in sampled[0]["reason"]


def test_without_task_keys_the_request_key_finds_peers(tmp_path, capsys) -> None:
    records = json.loads(Path(FIXTURE).read_text())
    opaque = [{**r, "task_id": uuid.uuid4().hex[:8]} for r in records]  # live traffic: no task key
    path = tmp_path / "opaque.json"
    path.write_text(json.dumps(opaque))
    args = ["--dsn", chdb_dsn(), "--database", f"cohort_{uuid.uuid4().hex[:10]}"]
    assert main(["analyze", "--format", "jsonl", str(path)]) == 0
    offline = {row["id"]: row["cohort"] for row in _jsonl(capsys.readouterr().out)}
    assert {c["basis"] for c in offline.values()} <= {"request", ""} and "request" in {c["basis"] for c in offline.values()}
    assert main(["load", *args, str(path)]) == 0
    capsys.readouterr()
    assert main(["sample", *args, "--strategy", "stratified", "--n", "10", "--format", "jsonl"]) == 0
    for row in _jsonl(capsys.readouterr().out):
        assert row["cohort"] == offline[row["id"]]


def test_load_stores_the_trajectory_score_of_the_configured_weights(tmp_path, capsys) -> None:
    config = tmp_path / "bias.toml"
    config.write_text("bias = 1.5\n")  # no weights: every stored trajectory score is sigmoid(1.5)
    args = ["--dsn", chdb_dsn(), "--database", f"cohort_{uuid.uuid4().hex[:10]}"]
    assert main(["load", *args, "--triage-config", str(config), FIXTURE]) == 0
    capsys.readouterr()
    assert main(["sample", *args, "--strategy", "random", "--n", "32", "--format", "jsonl"]) == 0
    scores = {row["triage_score"] for row in _jsonl(capsys.readouterr().out)}
    assert scores == {round(1 / (1 + math.exp(-1.5)), 4)}
