"""Settings of the OTLP/HTTP receiver and the signals exporter."""

from __future__ import annotations

import pytest

from streams.errors import CliError
from streams.settings import Settings


def test_otlp_receiver_and_exporter_settings() -> None:
    off = Settings.from_env(env={})
    assert (off.otlp_http_port, off.otlp_http_host, off.otlp_export_endpoint, off.topic_otlp) == (0, "127.0.0.1", "", "")
    on = Settings.from_env(env={"SIGNALS_OTLP_HTTP_PORT": "4318"})
    assert (on.otlp_http_port, on.topic_otlp) == (4318, "otlp_spans")  # the receiver needs a topic
    named = Settings.from_env(env={"SIGNALS_OTLP_HTTP_PORT": "4318", "SIGNALS_TOPIC_OTLP": "mine"})
    assert named.topic_otlp == "mine"
    with pytest.raises(CliError, match="SIGNALS_OTLP_MAX_INFLIGHT_BYTES"):
        Settings.from_env(env={"SIGNALS_OTLP_MAX_REQUEST_BYTES": "10", "SIGNALS_OTLP_MAX_INFLIGHT_BYTES": "9"})
    with pytest.raises(CliError, match="SIGNALS_OTLP_EXPORT_ENDPOINT"):
        Settings.from_env(env={"SIGNALS_OTLP_EXPORT_ENDPOINT": "collector:4318"})
    exported = Settings.from_env(env={"SIGNALS_OTLP_EXPORT_ENDPOINT": "http://c:4318/v1/traces"})
    assert exported.otlp_export_endpoint == "http://c:4318/v1/traces" and exported.topic_otlp == ""
