"""The worker's alerts adapter (streams/worker/alerts_agent.py) without Faust: signals in, alerts sent, idleness."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

from detectors.model import Signal
from streams.codec import encode_signal
from streams.settings import Settings
from streams.worker.alerts_agent import Alerting
from tests.support.spikes import ALERT_SETTINGS, T0, WINDOW_S


def settings() -> Settings:
    return Settings.from_env(ALERT_SETTINGS, env={})


def message(partition: int, agent: str, ts: float | None) -> SimpleNamespace:
    value = encode_signal("t", Signal(type="execution.failure.bad_query", index=1), pipeline_version="9",
                          agent_id=agent, ts=ts)
    return SimpleNamespace(partition=partition, value=value)


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.texts: list[str] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))

    def submit(self, text: str) -> bool:
        self.texts.append(text)
        return True


def test_signals_in_alerts_out_once_the_quiet_partitions_are_idle() -> None:
    clock, out = [100.0], Recorder()
    alerting = Alerting(settings(), out.send, notifier=out, clock=lambda: clock[0])  # type: ignore[arg-type]

    async def scenario() -> None:
        await alerting.tick()
        clock[0] += 1000
        await alerting.tick()
        assert alerting.detector.idle == set()  # nothing seen yet: no partition is idle
        steady = [message(0, "a", T0 + w * WINDOW_S + i) for w in range(5) for i in range(2)]
        spike = [message(0, "a", T0 + 5 * WINDOW_S + i) for i in range(10)]
        await alerting.process([*steady, *spike, message(0, "a", T0 + 7 * WINDOW_S), message(1, "b", None)])
        assert out.sent == []  # partitions 1-3 hold the watermark
        clock[0] += settings().alert_idle_s - 1
        await alerting.tick()
        assert out.sent == []
        clock[0] += 1
        await alerting.tick()

    asyncio.run(scenario())
    [(topic, key, value)] = out.sent
    alert = json.loads(value)
    assert topic == "agent-alerts" and key == f"a|execution.failure|{T0 + 5 * WINDOW_S}".encode()
    assert (alert["count"], alert["baseline"], alert["pipeline_version"]) == (10, 2.0, settings().pipeline_version)
    assert out.texts == [alerting.published[0].text] and alerting.detector.idle == {0, 1, 2, 3}  # all quiet: the largest watermark
    assert alerting.detector.counters.untimed == 1
