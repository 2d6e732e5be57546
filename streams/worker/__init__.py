"""The Faust worker: the only package that imports Faust (and mode).

Owns the app and its settings (``app``), the ingest agent, the spike alerts agent (``alerts_agent``), the Faust adapter of
``streams.pipeline`` (``agents``), the ClickHouse sink agents (``sink_agent``), the worker's topics
(``topics``), the query web view (``web``), Prometheus metrics (``metrics``), the patches to Faust's
private consumer bookkeeping and every other private faust/aiokafka use (``faust_fixes``), the
bounded stop and exit codes (``shutdown``), the stale-local-store check (``local_store``), and the
supervisor of ``signals worker --processes N`` (``supervisor``: no Faust, it runs worker subprocesses).
Never does: detection logic (``detectors``), session lifecycle decisions (``streams.pipeline``), SQL.

The names below are the public API; they are imported on first use, so importing one submodule
(``streams.worker.faust_fixes`` from replay, say) does not load the whole worker.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streams.worker.agents import Ingest, register_ingest
    from streams.worker.alerts_agent import register_alerts
    from streams.worker.app import build_app, create_app
    from streams.worker.metrics import Metrics
    from streams.worker.sink_agent import register_sink
    from streams.worker.topics import Topics, build_topics
    from streams.worker.web import register_web

__all__ = ["Ingest", "Metrics", "Topics", "build_app", "build_topics", "create_app", "register_alerts",
           "register_ingest", "register_sink", "register_web"]

_HOME = {"Ingest": "agents", "register_ingest": "agents", "build_app": "app", "create_app": "app",
         "Metrics": "metrics", "register_sink": "sink_agent", "Topics": "topics", "build_topics": "topics",
         "register_web": "web", "register_alerts": "alerts_agent"}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
