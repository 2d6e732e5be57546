"""The alert webhook: a Slack-compatible ``POST {"text": ...}``, bounded retries, never in the pipeline's way.

``post_text`` is one delivery with its retries (blocking: run it on a thread). ``Notifier`` is what the
worker uses: ``submit`` queues a text and returns at once (a full queue drops it, counted); ``run`` is
the background task that delivers the queue one POST at a time on a thread. A webhook that is down
costs its retries and timeouts on that task only: alerts still go to their topic and table.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("signals.webhook")
QUEUE_MAX = 1000


def post_text(url: str, text: str, *, retries: int = 2, timeout_s: float = 5.0, backoff_s: float = 0.5,
              sleep: Callable[[float], None] = time.sleep) -> bool:
    """POST ``{"text": text}`` as JSON; retry a failure (no answer, 429, 5xx) ``retries`` times with a
    doubling backoff; a 4xx other than 429 is not retried. True when the webhook answered 2xx."""
    body = json.dumps({"text": text}).encode()
    delay = backoff_s
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                response.read()
                return True
        except urllib.error.HTTPError as error:
            if error.code != 429 and error.code < 500:
                log.warning("alert webhook refused the alert (HTTP %d): not retried", error.code)
                return False
            problem: object = f"HTTP {error.code}"
        except (OSError, ValueError) as error:  # refused, timed out, bad URL
            problem = error
        if attempt < retries:
            sleep(delay)
            delay *= 2
    log.warning("alert webhook unavailable after %d attempts (%s): alert not delivered", retries + 1, problem)
    return False


@dataclass
class Delivery:
    sent: int = 0
    failed: int = 0
    dropped: int = 0  # the queue was full


class Notifier:
    def __init__(self, url: str, *, retries: int = 2, timeout_s: float = 5.0, backoff_s: float = 0.5,
                 queue_max: int = QUEUE_MAX) -> None:
        self.url, self.retries, self.timeout_s, self.backoff_s = url, retries, timeout_s, backoff_s
        self.queue: asyncio.Queue[str] = asyncio.Queue(queue_max)
        self.delivery = Delivery()

    def submit(self, text: str) -> bool:
        """Queue one alert text; False (and counted) when the queue is full."""
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.delivery.dropped += 1
            return False
        return True

    async def run(self) -> None:
        """Deliver queued texts until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            text = await self.queue.get()
            ok = await loop.run_in_executor(None, self._post, text)
            self.queue.task_done()
            if ok:
                self.delivery.sent += 1
            else:
                self.delivery.failed += 1

    def _post(self, text: str) -> bool:
        return post_text(self.url, text, retries=self.retries, timeout_s=self.timeout_s, backoff_s=self.backoff_s)
