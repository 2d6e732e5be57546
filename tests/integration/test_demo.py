"""`signals demo`: in-process on the bundled sample (fast), and through the real broker."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from detectors.adapters import read_trajectories
from detectors.session import analyze
from sinks.gateway import WORKER_FILE
from streams.cli import main
from tests.support.chdb import chdb_dsn

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "infra" / "sample" / "trajectories.jsonl"


def expected() -> tuple[int, str]:
    reports = [analyze(t.id, t.events) for t in read_trajectories(str(SAMPLE))]
    return len(reports), max(reports, key=lambda r: (r.triage_score, r.id)).id


def test_sample_is_varied():
    reports = [analyze(t.id, t.events) for t in read_trajectories(str(SAMPLE))]
    assert len(reports) >= 30
    assert len({r.quality for r in reports}) >= 3
    assert len({t.split(".")[0] for r in reports for t in r.counts}) == 3  # interaction, execution, environment


def test_in_process_demo_prints_summary_and_review_sample(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    database = f"demo_{uuid.uuid4().hex[:8]}"
    assert main(["demo", "--in-process", "--dsn", chdb_dsn(), "--database", database, str(SAMPLE)]) == 0
    out = capsys.readouterr().out
    count, top = expected()
    assert f"{count} trajectories" in out and "in-process" in out
    assert "worth reviewing first (10" in out
    assert top in out  # the highest-triage trajectory is in the sample


def test_demo_through_kafka_lands_everything_and_stops_its_worker(kafka_url, tmp_path):
    ch = tmp_path / "ch"
    env = {**os.environ, "SIGNALS_KAFKA": kafka_url, "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "streams.cli", "demo", "--dsn", f"chdb://{ch}", str(SAMPLE)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    count, top = expected()
    assert "Kafka" in done.stdout and f"{count} trajectories" in done.stdout
    assert done.stdout.count(f"{count} trajectories") == 2  # this run, and what is in ClickHouse
    assert top in done.stdout
    assert not (ch / WORKER_FILE).exists()  # the worker shut down and withdrew its marker
    assert "events/s (" in done.stdout and "detectors alone" in done.stdout
    assert "first event produced -> last final record in ClickHouse" in done.stdout
    again = subprocess.run([sys.executable, "-m", "streams.cli", "demo", "--dsn", f"chdb://{ch}", str(SAMPLE)],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{count} trajectories" in again.stdout  # the rerun waits for its own records, not the first run's
