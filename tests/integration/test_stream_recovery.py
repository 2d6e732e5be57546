"""A worker SIGKILLed mid-stream and restarted still yields every final record, unchanged."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from detectors.adapters import Trajectory
from detectors.session import analyze
from streams.cli.commands.produce import produce, with_end
from streams.codec import encode_report
from streams.settings import Settings
from tests.builders import A, C, R, U, conv
from tests.support.faults import wait_joined
from tests.support.kafka import final_records, read_topic

pytestmark = pytest.mark.integration


def trajectories(count: int) -> list[Trajectory]:
    out = []
    for i in range(count):
        tid = f"rec-{i}"
        specs = [U("I need to change my booking"), A("Which booking?"), C("lookup", {"id": i % 5}, call_id="c"),
                 R("not found" if i % 3 == 0 else "found", call_id="c"),
                 U("no, that's wrong, try again" if i % 2 else "thank you so much")]
        out.append(Trajectory(id=tid, events=conv(tid, *specs, start_ts=1_700_000_000.0 + i)))
    return out


def test_sigkill_and_restart_yield_identical_final_records(kafka_url, stream_names, start_worker) -> None:
    data = trajectories(120)
    want = {t.id: json.loads(encode_report(analyze(t.id, with_end(t), pipeline_version="r")))
            for t in data}
    settings = Settings.from_env({"kafka": kafka_url, "topic_events": stream_names["topic_events"]})
    first = start_worker("--pipeline-version=r", "--session-timeout=8")
    wait_joined(kafka_url, stream_names)  # before producing
    producer = threading.Thread(target=lambda: asyncio.run(produce(settings, data, batch=1, rate=150)))
    producer.start()
    read_topic(kafka_url, stream_names["topic_trajectories"], until=lambda ms: len(final_records(ms)) >= 10)
    first.kill()  # SIGKILL: no commit, no flush
    first.wait(timeout=30)
    start_worker("--pipeline-version=r", "--session-timeout=8")
    producer.join(timeout=60)

    messages = read_topic(kafka_url, stream_names["topic_trajectories"],
                          until=lambda ms: len(final_records(ms)) >= len(want), timeout=120)
    finals = final_records(messages)
    assert finals.keys() == want.keys()
    for tid, records in finals.items():
        assert all(r == want[tid] for r in records), tid  # re-emitted finals are identical
    assert len(final_records(read_topic(kafka_url, stream_names["topic_trajectories"],
                                        until=lambda ms: False, timeout=3))) == len(want)
