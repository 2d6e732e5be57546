"""The one writer: batching, deterministic dedup tokens, the one retry loop, keeping batches when ClickHouse is down."""

from __future__ import annotations

import pytest

from sinks.writer import Backoff, ClickHouseUnavailable, Retry, Writer, batch_token, retrying, step, wait_out
from streams.settings import Settings


class FakeClient:
    def __init__(self, failures: int = 0) -> None:
        self.failures, self.inserts, self.closed = failures, [], 0

    def insert(self, table, rows, column_names, database, settings):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("down")
        self.inserts.append((table, list(rows), settings["insert_deduplication_token"]))
        self.settings = settings

    def close(self):
        self.closed += 1


def writer(client: FakeClient, clock=lambda: 0.0, **kw) -> tuple[Writer, list[float], list[int]]:
    sleeps: list[float] = []
    created: list[int] = []

    def make():
        created.append(1)
        return client

    w = Writer(make, "db", tables=("events",), clock=clock, sleep=sleeps.append, **kw)
    return w, sleeps, created


def test_due_by_size_and_by_age():
    now = [0.0]
    w, _, _ = writer(FakeClient(), clock=lambda: now[0], max_rows=3, max_interval=1.0)
    assert not w.due()
    w.add("events", [(1,), (2,)])
    assert not w.due()
    now[0] = 1.5
    assert w.due()
    w.flush()
    w.add("events", [(1,), (2,), (3,)])
    assert w.due() and w.pending_rows == 3


def test_batches_are_split_and_tokens_deterministic():
    client = FakeClient()
    w, _, _ = writer(client, max_rows=2)
    w.add("events", [(1,), (2,), (3,)])
    assert w.flush() == 3
    assert [len(rows) for _, rows, _ in client.inserts] == [2, 1]
    assert client.inserts[0][2] == batch_token("events", [(1,), (2,)]) != batch_token("events", [(2,), (1,)])


def test_server_inserts_are_async_and_acknowledged_with_their_token():
    # a server client (not chDB): async inserts that return once written, deduplicated by the token
    client = FakeClient(failures=1)
    w, _, _ = writer(client)
    w.add("events", [(1,)])
    w.flush()
    assert client.settings == {"optimize_on_insert": 0, "async_insert": 1, "wait_for_async_insert": 1,
                               "async_insert_deduplicate": 1,
                               "insert_deduplication_token": batch_token("events", [(1,)])}


def test_transient_failure_retried_with_growing_backoff_and_reconnect():
    client = FakeClient(failures=2)
    w, sleeps, created = writer(client, backoff=Backoff(0.1, 2.0, retries=4))
    w.add("events", [(1,)])
    assert w.flush() == 1
    assert sleeps == [0.1, 0.2]
    assert len(created) == 3  # a fresh client after each failure
    assert w.healthy and w.pending_rows == 0


def test_outage_raises_typed_error_keeps_batch_and_same_token_later():
    client = FakeClient(failures=100)
    w, sleeps, _ = writer(client, backoff=Backoff(1.0, 2.0, retries=3))
    w.add("events", [(1,), (2,)])
    with pytest.raises(ClickHouseUnavailable) as raised:
        w.flush()
    assert raised.value.pending_rows == 2 and not w.healthy
    assert sleeps == [1.0, 2.0, 2.0]  # bounded
    token_before = w.tables["events"].sealed[0][0]
    client.failures = 0
    w.add("events", [(3,)])
    assert w.flush() == 3 and w.healthy
    assert client.inserts[0][2] == token_before  # the kept batch is retried as the same batch
    assert [rows for _, rows, _ in client.inserts] == [[(1,), (2,)], [(3,)]]


def test_writer_redact_content_hides_personal_data_in_every_table():
    from detectors.model import Signal, UserMessage
    from detectors.session import analyze

    event = UserMessage(trajectory_id="t", seq=0, text="reach me at jane@corp.com")
    report = analyze("t", [event])
    report.signals = [Signal(type="interaction.disengagement.quit", index=0, snippet="mail jane@corp.com")]
    for redact in (False, True):
        client = FakeClient()
        w = Writer(lambda c=client: c, "db", redact_content=redact)
        w.write_reports([report], [event])
        w.flush()
        stored = {table: repr(rows) for table, rows, _ in client.inserts}
        assert set(stored) == {"trajectories", "trajectory_versions", "signals", "events"}
        assert all(("jane@corp.com" in text) is not redact for text in stored.values())


def test_discard_drops_the_kept_batch_and_the_open_rows():
    client = FakeClient(failures=100)
    w, _, _ = writer(client, backoff=Backoff(retries=0), max_rows=2)
    w.add("events", [(1,), (2,), (3,)])  # one sealed batch of two, one open row
    with pytest.raises(ClickHouseUnavailable):
        w.flush()
    assert w.discard() == 3
    assert w.pending_rows == 0 and not w.due()
    client.failures = 0
    assert w.flush() == 0 and client.inserts == []  # nothing of the released batch is written later


def test_the_one_retry_loop_yields_each_wait_and_returns_the_value():
    calls, failed = [], []

    def call():
        calls.append(1)
        if len(calls) < 4:
            raise ConnectionError(f"down {len(calls)}")
        return "done"

    attempts = retrying(call, Backoff(0.5, 1.5, retries=None), failed.append)
    waits = []
    while (retry := step(attempts))[0] is not None:
        waits.append(retry[0])
    assert [w.delay for w in waits] == [0.5, 1.0, 1.5] and retry == (None, "done")
    assert all(isinstance(w, Retry) for w in waits) and [str(e) for e in failed] == ["down 1", "down 2", "down 3"]
    def down():
        raise ConnectionError("down")

    slept: list[float] = []
    with pytest.raises(ConnectionError):  # with a limit, the last error is raised after `retries` retries
        wait_out(retrying(down, Backoff(0.5, 15.0, retries=2)), sleep=slept.append)
    assert slept == [0.5, 1.0]


def test_the_writers_backoff_comes_from_the_settings():
    settings = Settings(sink_backoff_s=0.25, sink_max_backoff_s=3.0, sink_retries=2)
    assert settings.sink_backoff() == Backoff(0.25, 3.0, retries=2)
    client = FakeClient(failures=100)
    w, sleeps, _ = writer(client, backoff=settings.sink_backoff())
    w.add("events", [(1,)])
    with pytest.raises(ClickHouseUnavailable):
        w.flush()
    assert sleeps == [0.25, 0.5]
