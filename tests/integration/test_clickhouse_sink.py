"""Writes on the real chDB engine: idempotent batches, replays, pipeline versions, rollup, export, stats."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from sinks import gateway
from sinks.config import chdb_path
from sinks.migrate import migrate, migration_files, statements
from sinks.service import QueryError, execute
from sinks.writer import Writer
from tests.builders import A, C, End, R, U, conv
from tests.support.chdb import chdb_dsn, count, make_report, shared_client

pytestmark = pytest.mark.integration

def sink_for(client, database) -> Writer:
    return Writer(lambda: client, database, max_rows=1000)


def test_migrate_is_idempotent_and_recorded(ch):
    client, db = ch
    again, known = migrate(client, db), migration_files()
    assert [v for v, _, _ in known][:4] == [1, 2, 3, 4] and {(4, "labels"), (5, "alerts")} <= {(v, n) for v, n, _ in known}
    assert [(v, applied) for v, _, applied in again] == [(v, False) for v, _, _ in known]
    assert count(client, f"SELECT count() FROM {db}.schema_migrations FINAL") == len(known)
    for _version, _, path in known:  # re-applying every statement changes nothing either
        for statement in statements(path.read_text(), db):
            client.command(statement)
    assert migrate(client, db)[-1] == (*known[-1][:2], False)


def test_same_batch_twice_and_replays_leave_one_latest_row(ch):
    client, db = ch
    sink = sink_for(client, db)
    batch = [make_report(f"dup-{i}", {"execution.failure.bad_query": 1}, events=5, final=False) for i in range(20)]
    sink.write_reports(batch)
    sink.flush()
    sink.write_reports(batch)  # redelivered: identical batch, identical token
    sink.flush()
    assert count(client, f"SELECT count() FROM {db}.trajectories WHERE startsWith(trajectory_id, 'dup-')") == 20
    sink.write_reports([make_report("dup-0", {"execution.failure.bad_query": 2}, events=9, final=True)])
    sink.flush()
    rows = client.query(f"SELECT events, final FROM {db}.trajectories FINAL WHERE trajectory_id = 'dup-0'").result_rows
    assert rows == [(9, 1)]
    assert count(client, f"SELECT count() FROM {db}.trajectories FINAL WHERE startsWith(trajectory_id, 'dup-')") == 20
    assert count(client, f"SELECT count() FROM {db}.signals FINAL WHERE trajectory_id = 'dup-0'") == 2


def test_two_versions_in_one_batch_read_as_the_newest(ch):
    # the writer's inserts do not collapse versions inside a block (optimize_on_insert = 0): the
    # reads must, whichever version comes first in the batch
    client, db = ch
    sink = sink_for(client, db)
    sink.write_reports([make_report("one-batch-a", events=9, triage=0.9), make_report("one-batch-a", events=4, triage=0.1),
                        make_report("one-batch-b", events=4, triage=0.1), make_report("one-batch-b", events=9, triage=0.9)])
    sink.flush()
    assert count(client, f"SELECT count() FROM {db}.trajectories WHERE startsWith(trajectory_id, 'one-batch-')") == 4
    rows = client.query(f"SELECT trajectory_id, events FROM {db}.trajectories FINAL "
                        "WHERE startsWith(trajectory_id, 'one-batch-') ORDER BY trajectory_id").result_rows
    assert rows == [("one-batch-a", 9), ("one-batch-b", 9)]


def test_times_are_stored_to_the_millisecond(ch):
    # rows carry Unix milliseconds (DateTime64(3)'s ticks): not seconds, not truncated to the second
    client, db = ch
    sink = sink_for(client, db)
    sink.write_reports([make_report("ms-time", first_ts=1_735_689_600.1234)])
    sink.flush()
    stored = client.query(f"SELECT toUnixTimestamp64Milli(first_ts), toUnixTimestamp64Milli(last_ts) "
                          f"FROM {db}.trajectories WHERE trajectory_id = 'ms-time'").result_rows
    assert stored == [(1_735_689_600_123, 1_735_689_660_123)]


def test_embedded_inserts_are_not_async(ch):
    from sinks.client import insert_settings
    client, _ = ch
    assert insert_settings(client) == {"optimize_on_insert": 0}


def test_new_pipeline_supersedes_and_old_replay_cannot_override(ch):
    client, db = ch
    sink = sink_for(client, db)
    for version, quality in (("1.0.0", "good"), ("2.0.0", "poor"), ("1.0.0", "good")):
        sink.write_reports([make_report(f"pv-{i}", {"execution.loops.retry": 1}, version=version, quality=quality,
                                        agent="pv-agent")
                            for i in range(5)])
        sink.flush()
    served = client.query(f"SELECT DISTINCT pipeline_version, quality FROM {db}.trajectories FINAL "
                          "WHERE startsWith(trajectory_id, 'pv-')").result_rows
    assert served == [("2.0.0", "poor")]
    stats = execute(client, "stats", {"database": db, "agent": "pv-agent"})
    changed = [r for r in stats if r["section"] == "quality_changed"]
    assert changed == [{"section": "quality_changed", "key": "1.0.0 -> 2.0.0", "trajectories": 5, "instances": 5}]
    old = execute(client, "sample", {"database": db, "strategy": "random", "n": 10, "pipeline_version": "1.0.0",
                                    "agent": "pv-agent"})
    assert {r["pipeline_version"] for r in old} == {"1.0.0"} and len(old) == 5


def test_rollup_counts_each_signal_once_despite_redelivery(ch):
    client, db = ch
    sink = sink_for(client, db)
    report = make_report("roll-1", {"environment.exhaustion.timeout": 3}, agent="roll-agent")
    for events in (5, 6, 7):  # same signals re-sent as the trajectory grows
        report.events = events
        sink.write_reports([report])
        sink.flush()
    total = count(client, f"SELECT uniqExactMerge(instances) FROM {db}.signal_rollup_hourly "
                  "WHERE agent_id = 'roll-agent'")
    assert total == 3


def test_export_bundles_record_events_and_signals(ch):
    client, db = ch
    events = conv("exp-1", U("find flights"), C("search", {"q": "x"}, call_id="c1"), R("error: 500", call_id="c1"),
                  A("sorry"), End(), start_ts=1_735_689_600.0)
    report = make_report("exp-1", {"environment.exhaustion.api_error": 1}, triage=0.99, agent="exp-agent")
    sink = sink_for(client, db)
    sink.write_reports([report], events)
    sink.flush()
    out = execute(client, "export", {"database": db, "agent": "exp-agent", "n": 5})
    assert [row["id"] for row in out] == ["exp-1"]
    bundle = out[0]
    assert bundle["record"]["triage_score"] == pytest.approx(0.99)
    assert [e["kind"] for e in bundle["events"]] == ["user", "tool_call", "tool_result", "assistant", "end"]
    assert [(s["type"], s["index"]) for s in bundle["signals"]] == [("environment.exhaustion.api_error", 0)]
    assert bundle["signals"][0]["ts"] == pytest.approx(1_735_689_600.0)
    json.dumps(out)  # JSON-safe for the gateway


def test_bad_op_and_params_are_query_errors(ch):
    client, db = ch
    with pytest.raises(QueryError):
        execute(client, "drop", {"database": db})
    with pytest.raises(QueryError):
        execute(client, "sample", {"database": "x; DROP TABLE y"})


def test_gateway_direct_and_through_worker(ch, monkeypatch):
    client, db = ch
    sink = sink_for(client, db)
    sink.write_reports([make_report(f"gw-{i}", agent="gw-agent", triage=i / 10) for i in range(4)])
    sink.flush()
    params = {"database": db, "agent": "gw-agent", "n": 3}
    expected = execute(client, "sample", params)
    # Direct path: no worker file; the gateway opens the DSN itself (same engine path in this process).
    monkeypatch.setattr(gateway, "connect", lambda dsn: _Unclosable(shared_client()))
    assert gateway.query(chdb_dsn(), "sample", params) == expected
    # Worker path: a stdlib server answers POST /signals/query with execute(); the gateway must use it.
    server = HTTPServer(("127.0.0.1", 0), _handler(client))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    marker = Path(chdb_path(chdb_dsn())) / gateway.WORKER_FILE
    marker.write_text(json.dumps({"pid": __import__("os").getpid(), "url": f"http://127.0.0.1:{server.server_port}"}))
    monkeypatch.setattr(gateway, "connect", _refuse)
    try:
        assert gateway.query(chdb_dsn(), "sample", params) == expected
        with pytest.raises(QueryError):
            gateway.query(chdb_dsn(), "sample", {**params, "n": 0})
    finally:
        marker.unlink()
        server.shutdown()
        server.server_close()


def test_gateway_ignores_stale_worker_file(tmp_path):
    (tmp_path / gateway.WORKER_FILE).write_text(json.dumps({"pid": 2**22 + 12345, "url": "http://127.0.0.1:9"}))
    assert gateway.worker_url(f"chdb://{tmp_path}") is None
    (tmp_path / gateway.WORKER_FILE).write_text("not json")
    assert gateway.worker_url(f"chdb://{tmp_path}") is None


class _Unclosable:
    def __init__(self, client):
        self.client = client

    def query(self, *args, **kw):
        return self.client.query(*args, **kw)

    def close(self):
        pass


def _refuse(dsn):
    raise AssertionError("gateway opened the locked path instead of asking the worker")


def _handler(client):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            try:
                status, payload = 200, {"rows": execute(client, body["op"], body["params"])}
            except QueryError as error:
                status, payload = 400, {"error": str(error)}
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    return Handler


def test_landed_since_counts_only_final_records_inserted_since_the_mark(ch):
    from streams.worker.web import landed
    client, db = ch
    sink = sink_for(client, db)
    ids = [f"land-{i}" for i in range(3)]
    sink.write_reports([make_report(ids[0]), make_report(ids[1], final=False)])
    sink.flush()
    assert landed(client, db, {"ids": ids}) == {"final": 1}
    mark = landed(client, db, {"ids": ids, "since_ms": 0})
    assert mark["final"] == 1 and mark["last_ms"] <= mark["now_ms"]
    since = mark["now_ms"] + 1  # what `signals demo` takes before producing
    assert landed(client, db, {"ids": ids, "since_ms": since})["final"] == 0  # the earlier run does not count
    time.sleep(0.01)
    sink.write_reports([make_report(ids[1], events=11), make_report(ids[2], final=False)])
    sink.flush()
    after = landed(client, db, {"ids": ids, "since_ms": since})
    assert after["final"] == 1  # ids[0] landed before the mark, ids[2] is not final yet
    assert since <= after["last_ms"] <= after["now_ms"]
    with pytest.raises(QueryError):
        landed(client, db, {"ids": ids, "since_ms": "soon"})
