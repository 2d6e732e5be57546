"""Labels that teach triage: reviewers' labels in ClickHouse feed calibrate, evaluate and the exports."""

from __future__ import annotations

import json
import uuid

import pytest

from detectors.adapters import read_trajectories
from sinks.service import execute
from streams.cli import main
from tests.support.chdb import chdb_dsn, shared_client

pytestmark = pytest.mark.integration
FILE = "tests/fixtures/tau_bench_cohorts.json"


@pytest.fixture(scope="module")
def labelled_db() -> tuple[list[str], dict[str, str]]:
    database = f"labels_{uuid.uuid4().hex[:10]}"
    assert main(["load", "--dsn", chdb_dsn(), "--database", database, FILE]) == 0
    given = {t.id: "failure" if float(t.labels["reward"]) < 1 else "fine" for t in read_trajectories(FILE)}
    for tid, label in given.items():
        execute(shared_client(), "label", {"id": tid, "label": label, "reviewer": "ann", "database": database})
    return ["--dsn", chdb_dsn(), "--database", database], given


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_calibrate_from_labels_fits_on_the_stored_trajectories(labelled_db, capsys) -> None:
    args, given = labelled_db
    assert main(["calibrate", "--from-labels", *args, "--folds", "3"]) == 0
    out = capsys.readouterr().out
    assert "held-out folds" in out and "clickhouse: AUC" in out and f"({len(given)} trajectories)" in out
    assert "[weights]" in out or "bias" in out


def test_evaluate_from_labels_reports_on_what_reviewers_marked(labelled_db, capsys) -> None:
    args, given = labelled_db
    assert main(["evaluate", "--from-labels", *args, "--folds", "3", "--bootstrap", "20", "--random-seeds", "5",
                 "--no-ablation", "--n", "5", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["trajectories"], result["failed"]) == (len(given), sum(v == "failure" for v in given.values()))


def test_export_labelled_and_pairs(labelled_db, capsys) -> None:
    args, given = labelled_db
    assert main(["export", "--labelled", *args, "--out", "-"]) == 0
    rows = jsonl(capsys.readouterr().out)
    assert {row["id"]: row["label"] for row in rows} == given
    assert all(row["events"] and row["record"]["id"] == row["id"] for row in rows)
    assert main(["export", "--pairs", *args, "--out", "-"]) == 0
    pairs = jsonl(capsys.readouterr().out)
    assert pairs, "the cohorts share tasks: there are pairs"
    used = [p["chosen_id"] for p in pairs] + [p["rejected_id"] for p in pairs]
    assert len(used) == len(set(used))
    for pair in pairs:
        assert (given[pair["chosen_id"]], given[pair["rejected_id"]]) == ("fine", "failure")
        assert [m["role"] for m in pair["prompt"]][-1] == "user"
        assert pair["chosen"] and pair["rejected"] and pair["similarity"] >= 0.5
