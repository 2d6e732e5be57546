"""The Kafka broker stops mid-stream and comes back: the worker recovers and every trajectory lands once.

The test runs its OWN broker (infra/kafka/start.sh on a free port, its own KAFKA_DATA_DIR) so that
stopping it harms nobody; the worker is NOT restarted by the test: it must survive the outage.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import (
    REPO,
    _free_port_pair,
    _unavailable,
    broker_env,
    final_records,
    read_topic,
    worker_argv,
)
from tests.integration.faults import (
    VERSION,
    assert_exactly_once,
    committed_to_end,
    inspect_chdb,
    produce_in_background,
    stop,
    wait_for,
    wait_joined,
    workload,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


class Broker:
    def __init__(self, data_dir: Path) -> None:
        port = _free_port_pair()
        self.url = f"kafka://127.0.0.1:{port}"
        self.env = broker_env(port, data_dir, KAFKA_HEAP_OPTS="-Xmx512m -Xms128m")

    def start(self) -> None:
        subprocess.run(["bash", str(REPO / "infra/kafka/start.sh")], env=self.env, check=True,
                       capture_output=True, text=True, timeout=180)

    def stop(self) -> None:
        subprocess.run(["bash", str(REPO / "infra/kafka/stop.sh")], env=self.env, check=True,
                       capture_output=True, text=True, timeout=120)


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[Broker]:
    broker = Broker(tmp_path / "kafka")
    try:
        broker.start()
    except (subprocess.SubprocessError, OSError) as error:
        _unavailable(f"infra/kafka/start.sh failed: {getattr(error, 'stderr', '') or error}")
    try:
        yield broker
    finally:
        broker.stop()


def test_broker_stopped_mid_stream_and_restarted_worker_recovers(own_broker, stream_names, tmp_path) -> None:
    data = workload(120, "broker")
    kafka = own_broker.url
    argv = worker_argv(kafka, stream_names, tmp_path / "data", f"--clickhouse=chdb://{tmp_path / 'ch'}",
                       f"--pipeline-version={VERSION}", "--session-timeout=10", "--sink-within=0.2")
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_joined(kafka, stream_names)  # before the stream starts
            producer = produce_in_background(kafka, stream_names["topic_events"], data, rate=100)
            read_topic(kafka, stream_names["topic_trajectories"], until=lambda ms: len(final_records(ms)) >= 10)
            own_broker.stop()  # mid-stream: events still coming, records to publish, batches to commit
            assert producer.is_alive(), "the broker must stop mid-stream"
            time.sleep(4)
            assert worker.poll() is None, "the worker died while the broker was down"
            own_broker.start()
            producer.join(timeout=90)  # its unsent messages were buffered and are delivered now
            wait_for(lambda: committed_to_end(kafka, stream_names, "topic_events", "topic_trajectories"), 120, "the worker to process and commit everything")
            assert worker.poll() is None
            assert stop(worker) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=30)
    assert_exactly_once(inspect_chdb(tmp_path / "ch"), data)
