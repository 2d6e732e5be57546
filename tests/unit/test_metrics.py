"""The worker's Prometheus endpoint exposes what operators alert on."""

from __future__ import annotations

import socket
import urllib.request

from streams.worker.metrics import Metrics


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_metrics_endpoint_serves_counters_by_label() -> None:
    metrics, port = Metrics(), free_port()
    metrics.serve(port)
    metrics.events.inc(5)
    metrics.rejected.labels("json").inc()
    metrics.signals.labels("execution.loops.retry").inc(2)
    metrics.latency.observe(0.03)
    metrics.lag.labels("0").set(7)
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert "signals_events_total 5.0" in body
    assert 'signals_rejected_total{reason="json"} 1.0' in body
    assert 'signals_signals_total{type="execution.loops.retry"} 2.0' in body
    assert 'signals_consumer_lag{partition="0"} 7.0' in body
    assert "signals_processing_latency_seconds_bucket" in body


def test_port_zero_disables_the_endpoint() -> None:
    import threading

    before = {thread.ident for thread in threading.enumerate()}
    close = Metrics().serve(0)
    assert {thread.ident for thread in threading.enumerate()} == before  # no server thread started
    close()  # and closing the nothing it started is harmless
