"""Version floors: the client library, the embedded engine and the server are checked before use.

The floors come from the installed metadata, i.e. from pyproject.toml; tools/lowest_versions.sh is
what proves them (the lowest-versions tier of .ci/run).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from sinks import client as ch
from sinks.migrate import migrate
from streams.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def pyproject_floor(package: str) -> str:
    requirements = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    spec = next(r for r in requirements if re.match(rf"{re.escape(package)}\s*[<>=]", r))
    return re.search(r">=\s*([0-9][^,;\s]*)", spec).group(1)


@pytest.mark.parametrize("package", ["clickhouse-connect", "chdb"])
def test_the_checked_floor_is_the_one_pyproject_declares(package) -> None:
    assert ch.declared_floor(package) == pyproject_floor(package)


@pytest.mark.parametrize(("text", "parsed"), [("26.9.2.1", (26, 9, 2, 1)), ("1.6.0rc1", (1, 6, 0)),
                                              (" 4.1.7\n", (4, 1, 7)), ("dev", ())])
def test_version_tuple(text, parsed) -> None:
    assert ch.version_tuple(text) == parsed


def installed_as(monkeypatch, package: str, version: str) -> None:
    real = ch.metadata.version
    monkeypatch.setattr(ch.metadata, "version", lambda name: version if name == package else real(name))


def test_an_engine_below_the_floor_is_refused_with_package_found_and_needed(monkeypatch, tmp_path) -> None:
    installed_as(monkeypatch, "chdb", "3.7.2")
    with pytest.raises(ch.UnsupportedVersion) as raised:
        ch.connect(f"chdb://{tmp_path}/ch")
    message = str(raised.value)
    assert f"chdb >= {pyproject_floor('chdb')}" in message and "chdb 3.7.2" in message
    assert "pip install 'chdb>=" in message


def test_the_engine_floor_itself_is_accepted(monkeypatch) -> None:
    installed_as(monkeypatch, "chdb", pyproject_floor("chdb"))
    ch.check_package("chdb")  # (connecting would open a second embedded path: one per process)
    installed_as(monkeypatch, "chdb", "4.1.6")
    with pytest.raises(ch.UnsupportedVersion):
        ch.check_package("chdb")


def test_a_client_below_the_floor_is_refused_for_servers_too(monkeypatch) -> None:
    installed_as(monkeypatch, "clickhouse-connect", "0.8.18")
    with pytest.raises(ch.UnsupportedVersion, match=r"clickhouse-connect >= .*clickhouse-connect 0\.8\.18"):
        ch.connect("http://default:x@127.0.0.1:1/default")


def test_the_cli_says_what_was_expected_found_and_the_fix(monkeypatch, tmp_path, capsys) -> None:
    installed_as(monkeypatch, "chdb", "3.0.1")
    assert main(["migrate", "--dsn", f"chdb://{tmp_path}/ch"]) == 2
    err = capsys.readouterr().err
    assert "expected chdb >=" in err and "got chdb 3.0.1" in err and "Fix: pip install" in err
    assert "unexpected" not in err


class Server:
    """A client whose server reports a given version; records every other statement."""

    def __init__(self, version: str) -> None:
        self.version, self.statements = version, []

    def command(self, sql: str):
        if sql == "SELECT version()":
            return self.version
        self.statements.append(sql)
        raise AssertionError(f"migrate ran {sql!r} on an unsupported server")


@pytest.mark.parametrize("version", ["24.8.4.13", "25.8.2.29", "26.2.1.1"])
def test_migrate_refuses_an_old_server_before_changing_anything(version) -> None:
    server = Server(version)
    with pytest.raises(ch.UnsupportedVersion, match=rf"server >= 26\.3, got ClickHouse {re.escape(version)}"):
        migrate(server, "signals")
    assert server.statements == []


@pytest.mark.parametrize("version", ["26.3.1.1", "26.9.2.1", "27.1.1.1"])
def test_supported_servers_pass_the_check(version) -> None:
    assert ch.check_server(Server(version)) == version


def test_the_compose_image_is_the_server_floor() -> None:
    compose = (ROOT / "infra" / "docker-compose.yml").read_text()
    tag = re.search(r"clickhouse/clickhouse-server:(\d+)\.(\d+)", compose)
    assert (int(tag.group(1)), int(tag.group(2))) == ch.SERVER_FLOOR
