"""The worker's web server, private by default: the review pages mounted beside ``POST
/signals/query``, every route behind SIGNALS_WEB_TOKEN, Faust's own views off, the CLI sending the
token (real broker, the worker's own chDB path)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from detectors.adapters import read_trajectories
from sinks.gateway import post
from streams.cli import main
from streams.cli.commands.produce import produce
from streams.settings import Settings
from tests.support.kafka import free_port
from tests.support.worker import wait_url

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TRAJECTORIES = list(read_trajectories(str(FIXTURES / "checklist.jsonl")))[:6]
IDS = [t.id for t in TRAJECTORIES]
TOKEN = "worker-test-token"


def get(url: str, token: str = "", accept: str = "text/html") -> tuple[int, str]:
    headers = {"Accept": accept, **({"Authorization": f"Bearer {token}"} if token else {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def wait_landed(url: str, timeout: float = 90.0) -> int:
    deadline, landed = time.monotonic() + timeout, -1
    while time.monotonic() < deadline and landed != len(IDS):
        with contextlib.suppress(OSError):  # 503 before the schema exists
            landed = post(url, "landed", {"ids": IDS}, TOKEN)[0]["final"]
        time.sleep(0.3)
    return landed


def test_pages_and_queries_need_the_token_and_faust_views_are_off(start_worker, kafka_url, stream_names, tmp_path,
                                                                   monkeypatch, capsys) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    dsn = f"chdb://{tmp_path / 'ch'}"
    url = wait_url(dsn, start_worker(f"--clickhouse={dsn}", f"--web-port={free_port()}", "--sink-within=0.2",
                                     f"--web-token-file={token_file}"))
    assert url.startswith("http://127.0.0.1:")
    asyncio.run(produce(Settings(kafka=kafka_url, topic_events=stream_names["topic_events"]), TRAJECTORIES, batch=5))
    assert wait_landed(url) == len(IDS)

    with pytest.raises(PermissionError, match="wants a token"):
        post(url, "stats", {})
    status, body = get(url + "/")
    assert status == 401 and 'id="token"' in body  # a browser gets the login form
    assert get(url + "/", accept="application/json")[0] == 401
    status, body = get(url + "/", TOKEN)
    assert status == 200 and body.count("<tr data-id=") == len(IDS)
    flagged = next(row["id"] for row in post(url, "sample", {"n": 50}, TOKEN) if row["signal_types"])
    status, body = get(f"{url}/t/{flagged}", TOKEN)
    assert status == 200 and "<mark data-signal=" in body
    assert post(url, "label", {"id": flagged, "label": "informative", "reviewer": "ops"}, TOKEN)[0]["label"] == "informative"
    assert [(r["id"], r["label"]) for r in post(url, "labels", {}, TOKEN)] == [(flagged, "informative")]
    for builtin in ("/table/", "/router/", "/stats/", "/graph/"):
        assert get(url + builtin, TOKEN)[0] == 404, builtin
        assert get(url + builtin)[0] == 401, builtin

    monkeypatch.delenv("SIGNALS_WEB_TOKEN", raising=False)
    assert main(["stats", "--dsn", dsn]) == 2
    assert "SIGNALS_WEB_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("SIGNALS_WEB_TOKEN", TOKEN)
    assert main(["stats", "--dsn", dsn, "--format", "jsonl"]) == 0  # the CLI sends it
    assert '"quality"' in capsys.readouterr().out
