"""`signals serve` as a user runs it: its own chDB path, the token, the CLI querying through it, a clean stop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from sinks.gateway import WORKER_FILE
from tests.support.kafka import REPO, free_port

pytestmark = pytest.mark.integration
TOKEN = "serve-test-token"


def status(url: str, token: str = "") -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_serve_guards_its_pages_answers_the_cli_and_stops_cleanly(tmp_path) -> None:
    dsn, port = f"chdb://{tmp_path / 'ch'}", free_port()
    env = {**os.environ, "SIGNALS_WEB_TOKEN": TOKEN}
    signals = [sys.executable, "-m", "streams.cli"]
    subprocess.run([*signals, "load", "--dsn", dsn, "tests/fixtures/checklist.jsonl"], cwd=REPO, env=env,
                   check=True, capture_output=True, timeout=120)
    server = subprocess.Popen([*signals, "serve", "--dsn", dsn, "--port", str(port)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        assert f"http://127.0.0.1:{port}/ (token required)" in server.stdout.readline()
        url = f"http://127.0.0.1:{port}"
        assert (status(url + "/"), status(url + "/", TOKEN), status(url + "/t/nope", TOKEN)) == (401, 200, 404)
        assert json.loads((tmp_path / "ch" / WORKER_FILE).read_text())["url"] == url  # the CLI finds it
        sampled = subprocess.run([*signals, "sample", "--dsn", dsn, "--n", "3", "--format", "jsonl"], cwd=REPO,
                                 env=env, capture_output=True, text=True, timeout=120)
        assert sampled.returncode == 0, sampled.stderr
        assert len(sampled.stdout.splitlines()) == 3
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        assert not (tmp_path / "ch" / WORKER_FILE).exists()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()
