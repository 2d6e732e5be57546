"""CLI errors say what was expected, what arrived and the fix, with exit code 2 and no traceback."""

from __future__ import annotations

import socket

from streams.cli import main


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_produce_to_an_unreachable_broker(capsys) -> None:
    code = main(["produce", f"--kafka=kafka://127.0.0.1:{closed_port()}", "tests/fixtures/sharegpt.json"])
    err = capsys.readouterr().err
    assert code == 2
    assert "expected a reachable Kafka broker" in err and "infra/kafka/start.sh" in err
    assert "Traceback" not in err


def test_unexpected_errors_are_one_line_unless_debugging(monkeypatch, capsys) -> None:
    import streams.cli.commands.analyze as analyze_command

    def boom(args: object) -> int:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(analyze_command, "run", boom)
    monkeypatch.delenv("SIGNALS_DEBUG", raising=False)
    assert main(["analyze", "tests/fixtures/sharegpt.json"]) == 1
    assert "unexpected RuntimeError: disk on fire" in capsys.readouterr().err
