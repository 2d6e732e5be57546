"""The Kafka broker is replaced by a fresh one; the worker restarts on its old data dir and carries on.

Before streams/worker/local_store.py the restarted worker died at startup with Faust's ConsistencyError
("The persisted offset for changelog topic partition ... is higher than the last offset in that
topic") on every start: its rocksdb store had applied changelog offsets the new cluster never had.
"""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaError

from tests.support.faults import (
    VERSION,
    committed_to_end,
    expected,
    produce_in_background,
    wait_for,
    wait_joined,
    workload,
)
from tests.support.kafka import Broker, final_records, read_topic
from tests.support.worker import signal_and_time

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def settled(kafka: str, names: dict[str, str]) -> bool:
    try:
        return committed_to_end(kafka, names, "topic_events")  # --sink=false: nobody reads the records
    except KafkaError:  # no group coordinator yet on a fresh broker
        return False


def test_a_worker_restarted_against_a_fresh_broker_discards_its_stale_store_and_carries_on(
        stream_names, start_worker, tmp_path) -> None:
    old = Broker(tmp_path / "kafka-old")
    fresh = Broker(tmp_path / "kafka-new", port=int(old.url.rsplit(":", 1)[1]))  # the same address, an empty
    kafka = old.url  # data dir: a new cluster
    flags = ("--store=rocksdb://", "--sink=false", f"--pipeline-version={VERSION}", "--session-timeout=8")
    before, after = workload(40, "old"), workload(40, "new")
    old.start()
    try:
        first = start_worker(*flags, kafka=kafka)
        wait_joined(kafka, stream_names)  # the worker created its topics (4 partitions) and owns them
        produce_in_background(kafka, stream_names["topic_events"], before, rate=0).join(timeout=60)
        wait_for(lambda: settled(kafka, stream_names), 90, "the first worker to process everything")
        assert signal_and_time(first)[0] == 0
    finally:
        old.stop()
    assert list((tmp_path / "data").rglob("sessions-*.db")), "the rocksdb store was written"

    fresh.start()
    try:
        second = start_worker(*flags, kafka=kafka)
        try:
            wait_joined(kafka, stream_names)  # it started: before the fix it died here
            produce_in_background(kafka, stream_names["topic_events"], after, rate=0).join(timeout=60)
            want = expected(after)
            messages = read_topic(kafka, stream_names["topic_trajectories"],
                                  until=lambda ms: len(final_records(ms)) >= len(want) or second.poll() is not None,
                                  timeout=120)
            assert second.poll() is None, "the restarted worker died"
            # every new trajectory is processed and closed (record CONTENT on a fresh cluster is
            # not compared here: see the note in RELIABILITY.md, it differs also without a stale store)
            assert final_records(messages).keys() == want.keys()
            assert signal_and_time(second)[0] == 0
        finally:
            if second.poll() is None:  # before the broker it talks to goes away
                second.kill()
                second.wait(timeout=30)
    finally:
        fresh.stop()
    text = (tmp_path / "worker-1.log").read_text(errors="replace")
    assert "ConsistencyError" not in text
    found = [line for line in text.splitlines() if "does not match Kafka" in line]
    assert len(found) == 1 and "discarding it and rebuilding" in found[0]
