"""The alert webhook (streams/webhook.py) against a local HTTP server: delivered, retried, given up, never blocking."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from streams.webhook import Notifier, post_text
from tests.support.kafka import free_port


class Hook(BaseHTTPRequestHandler):
    answers: ClassVar[list[int]] = []  # status per request, then 200
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append({"body": body, "type": self.headers["Content-Type"]})
        status = type(self).answers.pop(0) if type(self).answers else 200
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[str]:
    Hook.answers, Hook.received = [], []
    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/T0"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_an_alert_is_posted_as_slack_json(hook: str) -> None:
    assert post_text(hook, "signal spike: agent-a", sleep=lambda s: None)
    assert Hook.received == [{"body": {"text": "signal spike: agent-a"}, "type": "application/json"}]


def test_server_errors_are_retried_with_a_doubling_backoff_then_delivered(hook: str) -> None:
    Hook.answers, waits = [503, 500], []
    assert post_text(hook, "x", retries=2, backoff_s=0.5, sleep=waits.append)
    assert len(Hook.received) == 3 and waits == [0.5, 1.0]


def test_retries_are_bounded_and_a_client_error_is_not_retried(hook: str) -> None:
    Hook.answers, waits = [503, 503, 503, 503], []
    assert not post_text(hook, "x", retries=2, sleep=waits.append)
    assert len(Hook.received) == 3 and waits == [0.5, 1.0]
    Hook.answers, Hook.received = [404], []
    assert not post_text(hook, "x", retries=2, sleep=waits.append)
    assert len(Hook.received) == 1


def test_a_webhook_that_is_down_costs_the_retries_and_is_given_up() -> None:
    waits: list[float] = []
    assert not post_text(f"http://127.0.0.1:{free_port()}/down", "x", retries=3, timeout_s=2, sleep=waits.append)
    assert waits == [0.5, 1.0, 2.0]


def test_the_notifier_queues_without_waiting_and_delivers_in_the_background(hook: str) -> None:
    async def scenario() -> tuple[bool, list[bool]]:
        notifier = Notifier(hook, retries=0, queue_max=2)
        accepted = [notifier.submit(f"alert {i}") for i in range(3)]  # the third finds the queue full
        task = asyncio.create_task(notifier.run())
        await asyncio.wait_for(notifier.queue.join(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return notifier.delivery.sent == 2 and notifier.delivery.dropped == 1, accepted

    delivered, accepted = asyncio.run(scenario())
    assert accepted == [True, True, False] and delivered
    assert [r["body"]["text"] for r in Hook.received] == ["alert 0", "alert 1"]
