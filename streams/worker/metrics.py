"""Prometheus metrics of the worker (events/s = rate(signals_events_total[1m]))."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """One set per worker process; ``serve(port)`` exposes them on /metrics (0 = off)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        reg = self.registry
        self.events = Counter("signals_events", "Events decoded from the input topic", registry=reg)
        self.messages = Counter("signals_messages", "Input messages (events or envelopes)", registry=reg)
        self.rejected = Counter("signals_rejected", "Input messages sent to the DLQ", ["reason"], registry=reg)
        self.signals = Counter("signals_signals", "Signals published", ["type"], registry=reg)
        self.records = Counter("signals_records", "Trajectory records published", ["final"], registry=reg)
        self.closed = Counter("signals_sessions_closed", "Sessions closed", ["trigger"], registry=reg)
        # the OTLP/HTTP receiver and the OTLP exporter (streams/worker/otlp_http.py)
        self.otlp_http_requests = Counter("signals_otlp_http_requests", "OTLP/HTTP requests answered", ["code"],
                                          registry=reg)
        self.otlp_http_spans = Counter("signals_otlp_http_spans", "Spans received by the OTLP/HTTP receiver",
                                       ["outcome"], registry=reg)
        self.otlp_http_inflight = Gauge("signals_otlp_http_inflight_bytes",
                                        "OTLP request bytes being written to Kafka", registry=reg)
        self.otlp_export = Counter("signals_otlp_export_spans", "Signal spans of the OTLP exporter", ["outcome"],
                                   registry=reg)
        self.otlp_export_queue = Gauge("signals_otlp_export_queue", "Final records waiting for the OTLP exporter",
                                       registry=reg)
        self.latency = Histogram("signals_processing_latency_seconds",
                                 "Now minus the input message's Kafka timestamp",
                                 buckets=LATENCY_BUCKETS, registry=reg)
        self.lag = Gauge("signals_consumer_lag", "Highwater minus position", ["partition"], registry=reg)
        self.sink_lag = Gauge("signals_sink_lag", "Events-topic messages not yet written to ClickHouse by the "
                              "raw-events sink: end offset minus its group's committed offset", ["partition"],
                              registry=reg)
        self.records_sink_lag = Gauge("signals_records_sink_lag", "Trajectory records not yet written to "
                                      "ClickHouse by the records sink: end offset of the trajectories topic minus "
                                      "the worker group's committed offset", ["partition"], registry=reg)
        self.open_sessions = Gauge("signals_open_sessions", "Open sessions on this worker", registry=reg)
        self.otlp_spans = Counter("signals_otlp_spans", "Spans read from the OTLP topic", registry=reg)
        self.otlp_events = Counter("signals_otlp_events",
                                   "Events made from OTLP spans and sent to the events topic", registry=reg)

    @staticmethod
    def set_by_partition(gauge: Gauge, values: Mapping[int, float], reported: set[int]) -> set[int]:
        """One series of ``gauge`` per partition of ``values``; the series of the partitions in
        ``reported`` (the last call's) and no longer in ``values`` are removed: a partition that moved
        to another process is that one's to report (a series left here would keep its last value).
        Returns the partitions reported now."""
        for partition, value in values.items():
            gauge.labels(str(partition)).set(value)
        for gone in reported - values.keys():
            with contextlib.suppress(KeyError):
                gauge.remove(str(gone))
        return set(values)

    def serve(self, port: int, host: str = "127.0.0.1") -> Callable[[], None]:
        """Serve /metrics on ``host:port`` (port 0: off); returns what closes the server and releases
        the port. A port in use raises ``OSError``."""
        if port <= 0:
            return lambda: None
        server, thread = start_http_server(port, addr=host, registry=self.registry)

        def close() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
        return close
