"""The Kafka broker stops mid-stream and comes back: the worker recovers and every trajectory lands once.

The test runs its OWN broker (infra/kafka/start.sh on a free port, its own KAFKA_DATA_DIR) so that
stopping it harms nobody; the worker is NOT restarted by the test: it must survive the outage.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest

from tests.support.faults import (
    VERSION,
    assert_exactly_once,
    inspect_chdb,
    produce_in_background,
    sink_committed,
    stop,
    wait_for,
    wait_joined,
    workload,
)
from tests.support.kafka import final_records, read_topic
from tests.support.worker import worker_log

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
REFUSED = re.compile(r"^\[([\d-]+ [\d:,]+)\] \[\d+\] \[ERROR\] Unable connect to .*Connection refused", re.M)


def refused_for(log: str, since: float) -> float:
    """Seconds between the first and the last 'Connection refused' the worker logged after ``since``."""
    stamps = [datetime.strptime(m[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()
              for m in REFUSED.finditer(log)]
    stamps = [s for s in stamps if s >= since - 1]  # log times have milliseconds
    return stamps[-1] - stamps[0] if stamps else 0.0


def test_broker_stopped_mid_stream_and_restarted_worker_recovers(own_broker, stream_names, start_worker,
                                                                  tmp_path) -> None:
    data = workload(120, "broker")
    kafka = own_broker.url
    worker = start_worker(f"--clickhouse=chdb://{tmp_path / 'ch'}", f"--pipeline-version={VERSION}",
                          "--session-timeout=10", "--sink-within=0.2", kafka=kafka)
    wait_joined(kafka, stream_names)  # before the stream starts
    producer = produce_in_background(kafka, stream_names["topic_events"], data, rate=100)
    read_topic(kafka, stream_names["topic_trajectories"], until=lambda ms: len(final_records(ms)) >= 10)
    own_broker.stop()  # mid-stream: events still coming, records to publish, batches to commit
    assert producer.is_alive(), "the broker must stop mid-stream"
    since = time.time()  # what must happen: the worker keeps trying the stopped broker for 3 s
    wait_for(lambda: refused_for(worker_log(tmp_path), since) >= 3 or worker.poll() is not None, 60,
             "the worker to be refused by the stopped broker for 3 s")
    assert worker.poll() is None, "the worker died while the broker was down"
    own_broker.start()
    producer.join(timeout=90)  # its unsent messages were buffered and are delivered now
    wait_for(lambda: sink_committed(kafka, stream_names), 120,
             "the worker to process and commit everything")
    assert worker.poll() is None
    assert stop(worker) == 0
    assert_exactly_once(inspect_chdb(tmp_path / "ch"), data)
