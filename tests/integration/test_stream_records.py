"""Events through Kafka and the worker yield the same records as batch `analyze`."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from detectors.adapters import Trajectory, read_trajectories
from detectors.session import analyze
from streams.cli.commands.produce import produce, with_end
from streams.codec import encode_report
from streams.settings import Settings
from tests.support.faults import synthetic
from tests.support.kafka import REPO, final_records, read_topic

pytestmark = pytest.mark.integration
VERSION = "it-1"
# SIGNALS_PARITY_FILES (paths joined by os.pathsep) replaces the fixtures with other files, e.g. the
# τ-bench dev file beside the repo: SIGNALS_PARITY_FILES=../shared/data/tau-bench/gpt-4o-airline-dev.json
FIXTURES = tuple(filter(None, os.environ.get("SIGNALS_PARITY_FILES", "").split(os.pathsep))) or (
    "tests/fixtures/checklist.jsonl", "tests/fixtures/tau_bench_2.json")


def expected(trajectories: list[Trajectory]) -> dict[str, dict]:
    return {t.id: json.loads(encode_report(analyze(t.id, with_end(t), pipeline_version=VERSION)))
            for t in trajectories}


def test_final_records_equal_batch_analysis(kafka_url, stream_names, start_worker) -> None:
    files = [t for path in FIXTURES for t in read_trajectories(str(REPO / path))]
    generated = synthetic(40)
    want = expected(files + generated)
    worker = start_worker(f"--pipeline-version={VERSION}")
    settings = Settings.from_env({"kafka": kafka_url, "topic_events": stream_names["topic_events"]})
    cli = subprocess.run([sys.executable, "-m", "streams.cli", "produce", f"--kafka={kafka_url}",
                          f"--topic-events={stream_names['topic_events']}", "--batch=3", *FIXTURES],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    assert f"produced {len(files)} trajectories" in cli.stdout
    asyncio.run(produce(settings, generated, batch=1))

    messages = read_topic(kafka_url, stream_names["topic_trajectories"],
                          until=lambda ms: len(final_records(ms)) >= len(want))
    got = {tid: records[-1] for tid, records in final_records(messages).items()}
    assert worker.poll() is None
    assert got.keys() == want.keys()
    for tid, record in want.items():
        assert got[tid] == record, tid
    assert any(r["signals"] for r in want.values())  # the comparison covers real signals


def test_signals_topic_carries_every_signal_once(kafka_url, stream_names, start_worker) -> None:
    generated = synthetic(12, prefix="sig")
    want = expected(generated)
    start_worker(f"--pipeline-version={VERSION}")
    settings = Settings.from_env({"kafka": kafka_url, "topic_events": stream_names["topic_events"]})
    asyncio.run(produce(settings, generated, batch=2))
    total = sum(len(r["signals"]) for r in want.values())
    assert total > 0
    messages = read_topic(kafka_url, stream_names["topic_signals"], until=lambda ms: len(ms) >= total, timeout=60)
    got = sorted((json.loads(m.value)["trajectory_id"], json.loads(m.value)["type"], json.loads(m.value)["index"])
                 for m in messages)
    assert got == sorted((tid, s["type"], s["index"]) for tid, r in want.items() for s in r["signals"])
    assert {json.loads(m.value)["pipeline_version"] for m in messages} == {VERSION}
