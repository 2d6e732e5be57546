"""The worker's ClickHouse extension wires the settings into the sinks it builds."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from streams.settings import Settings
from streams.sink_agent import register_sink


class FakeApp:
    should_stop = False

    def __init__(self) -> None:
        self.on_before_shutdown = SimpleNamespace(connect=lambda function: function)

    def agent(self, topic: Any, name: str) -> Any:
        return lambda function: function


@pytest.mark.parametrize("redact", [False, True])
def test_worker_sinks_follow_signals_redact_content(tmp_path: Path, redact: bool) -> None:
    app = FakeApp()
    settings = Settings(clickhouse=f"chdb://{tmp_path}", redact_content=redact)
    warehouse = register_sink(app, SimpleNamespace(trajectories=None, events=None), settings)
    assert warehouse is not None
    try:
        assert len(app.sink_writers) == 2  # records and raw events
        assert all(writer.sink.redact_content is redact for writer in app.sink_writers)
    finally:
        warehouse.close()
