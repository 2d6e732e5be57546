"""The ClickHouse commands as a new user meets them: a fresh database, clear errors, a useful sample."""

from __future__ import annotations

import json
import uuid

from streams.cli import main
from tests.conftest import chdb_dsn

FIXTURES = "tests/fixtures"


def fresh_database() -> str:
    return f"cli_{uuid.uuid4().hex[:10]}"


def test_sample_before_anything_is_loaded_says_what_to_do(capsys) -> None:
    code = main(["sample", "--dsn", chdb_dsn(), "--database", fresh_database(), "--n", "3"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no signals tables yet" in err and "signals load" in err


def test_load_on_a_fresh_database_then_sample_and_stats(capsys) -> None:
    database = fresh_database()
    args = ["--dsn", chdb_dsn(), "--database", database]
    assert main(["load", *args, f"{FIXTURES}/checklist.jsonl", f"{FIXTURES}/tau_bench_2.json"]) == 0
    assert "loaded 30 trajectories" in capsys.readouterr().out
    assert main(["sample", *args, "--strategy", "signals", "--n", "5", "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len({row["id"] for row in rows}) == 5
    assert [row["triage_score"] for row in rows] == sorted((row["triage_score"] for row in rows), reverse=True)
    assert set(rows[0]) >= {"id", "pipeline_version", "triage_score", "quality", "signal_types", "reason"}
    assert main(["stats", *args]) == 0
    assert "severe" in capsys.readouterr().out


def test_load_honours_signals_redact_content(tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"kind": "user", "trajectory_id": "pii-1", "seq": 0, "text": "mail me at jane@corp.com"}\n')
    args = ["--dsn", chdb_dsn(), "--database", fresh_database()]
    monkeypatch.setenv("SIGNALS_REDACT_CONTENT", "1")
    assert main(["load", *args, str(path)]) == 0
    assert main(["export", *args, "--strategy", "random", "--n", "1", "--out", "-"]) == 0
    exported = capsys.readouterr().out
    assert "pii-1" in exported and "[email]" in exported and "jane@corp.com" not in exported
