"""BatchWriter: batching, deterministic dedup tokens, retries, and keeping batches when ClickHouse is down."""

from __future__ import annotations

import pytest

from sinks.clickhouse import BatchWriter, SinkUnavailable, batch_token
from sinks.client import ClientHolder


class FakeClient:
    def __init__(self, failures: int = 0) -> None:
        self.failures, self.inserts, self.closed = failures, [], 0

    def insert(self, table, rows, column_names, database, settings):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("down")
        self.inserts.append((table, list(rows), settings["insert_deduplication_token"]))

    def close(self):
        self.closed += 1


def writer(client: FakeClient, clock=lambda: 0.0, **kw) -> tuple[BatchWriter, list[float], list[int]]:
    sleeps: list[float] = []
    created: list[int] = []

    def make():
        created.append(1)
        return client

    w = BatchWriter(ClientHolder(make), "db", "t", ["a"], clock=clock, sleep=sleeps.append, **kw)
    return w, sleeps, created


def test_due_by_size_and_by_age():
    now = [0.0]
    w, _, _ = writer(FakeClient(), clock=lambda: now[0], max_rows=3, max_interval=1.0)
    assert not w.due()
    w.add([(1,), (2,)])
    assert not w.due()
    now[0] = 1.5
    assert w.due()
    w.flush()
    w.add([(1,), (2,), (3,)])
    assert w.due() and w.pending_rows == 3


def test_batches_are_split_and_tokens_deterministic():
    client = FakeClient()
    w, _, _ = writer(client, max_rows=2)
    w.add([(1,), (2,), (3,)])
    assert w.flush() == 3
    assert [len(rows) for _, rows, _ in client.inserts] == [2, 1]
    assert client.inserts[0][2] == batch_token("t", [(1,), (2,)]) != batch_token("t", [(2,), (1,)])


def test_transient_failure_retried_with_growing_backoff_and_reconnect():
    client = FakeClient(failures=2)
    w, sleeps, created = writer(client, backoff=0.1)
    w.add([(1,)])
    assert w.flush() == 1
    assert sleeps == [0.1, 0.2]
    assert len(created) == 3  # a fresh client after each failure
    assert w.healthy and w.pending_rows == 0


def test_outage_raises_typed_error_keeps_batch_and_same_token_later():
    client = FakeClient(failures=100)
    w, sleeps, _ = writer(client, retries=3, backoff=1.0, max_backoff=2.0)
    w.add([(1,), (2,)])
    with pytest.raises(SinkUnavailable) as raised:
        w.flush()
    assert raised.value.pending_rows == 2 and not w.healthy
    assert sleeps == [1.0, 2.0, 2.0]  # bounded
    token_before = w.sealed[0][0]
    client.failures = 0
    w.add([(3,)])
    assert w.flush() == 3 and w.healthy
    assert client.inserts[0][2] == token_before  # the kept batch is retried as the same batch
    assert [rows for _, rows, _ in client.inserts] == [[(1,), (2,)], [(3,)]]


def test_sink_redact_content_hides_personal_data_in_every_table():
    from detectors.model import Signal, UserMessage
    from detectors.session import analyze
    from sinks.sink import Sink

    event = UserMessage(trajectory_id="t", seq=0, text="reach me at jane@corp.com")
    report = analyze("t", [event])
    report.signals = [Signal(type="interaction.disengagement.quit", index=0, snippet="mail jane@corp.com")]
    for redact in (False, True):
        client = FakeClient()
        sink = Sink(lambda c=client: c, "db", redact_content=redact)
        sink.write_reports([report], [event])
        sink.flush()
        stored = {table: repr(rows) for table, rows, _ in client.inserts}
        assert set(stored) == {"trajectories", "trajectory_versions", "signals", "events"}
        assert all(("jane@corp.com" in text) is not redact for text in stored.values())


def test_discard_drops_the_kept_batch_and_the_open_rows():
    client = FakeClient(failures=100)
    w, _, _ = writer(client, retries=0, max_rows=2)
    w.add([(1,), (2,), (3,)])  # one sealed batch of two, one open row
    with pytest.raises(SinkUnavailable):
        w.flush()
    assert w.discard() == 3
    assert w.pending_rows == 0 and not w.due()
    client.failures = 0
    assert w.flush() == 0 and client.inserts == []  # nothing of the released batch is written later
