"""The ClickHouse commands as a new user meets them: a fresh database, clear errors, a useful sample."""

from __future__ import annotations

import json
import uuid

from streams.cli import main
from tests.support.chdb import chdb_dsn

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


def test_every_command_uses_the_clickhouse_under_signals_data_dir(tmp_path) -> None:
    """With only SIGNALS_DATA_DIR set, `load` writes where the worker writes (<data dir>/clickhouse)
    and `stats` reads it there, whatever the working directory."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from streams.settings import Settings

    repo, data_dir, cwd = Path(__file__).resolve().parents[2], tmp_path / "state", tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("SIGNALS_CLICKHOUSE", "SIGNALS_CLICKHOUSE_DATABASE")}
    env["SIGNALS_DATA_DIR"] = str(data_dir)

    def signals(*argv: str) -> str:
        done = subprocess.run([sys.executable, "-m", "streams.cli", *argv], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    assert "loaded 2 trajectories" in signals("load", str(repo / FIXTURES / "events.jsonl"))
    assert Settings.from_env(env=env).clickhouse_dsn == f"chdb://{data_dir / 'clickhouse'}"  # the worker's
    assert (data_dir / "clickhouse").is_dir() and not (cwd / "data").exists()
    stats = [json.loads(line) for line in signals("stats", "--format", "jsonl").splitlines()]
    assert sum(row["trajectories"] for row in stats if row["section"] == "quality") == 2
    assert not (cwd / "data").exists()


def test_in_process_demo_honours_signals_redact_content(tmp_path, monkeypatch, capsys) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"kind": "user", "trajectory_id": "pii-demo", "seq": 0, "text": "mail me at jane@corp.com"}\n')
    args = ["--dsn", chdb_dsn(), "--database", fresh_database()]
    monkeypatch.setenv("SIGNALS_REDACT_CONTENT", "1")
    assert main(["demo", "--in-process", *args, str(path)]) == 0
    capsys.readouterr()
    assert main(["export", *args, "--strategy", "random", "--n", "1", "--out", "-"]) == 0
    exported = capsys.readouterr().out
    assert "pii-demo" in exported and "[email]" in exported and "jane@corp.com" not in exported
