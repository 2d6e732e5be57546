"""The docker-compose stack and the worker image, checked without Docker: what can be read is right.

Images are pinned, every service has a health check, every stateful service keeps its data in a
named volume, the worker's environment names real settings, and no password has a default a
production user could forget to change.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from streams.settings import Settings, env_name

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "infra" / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
DOCKERFILE = (ROOT / "infra" / "Dockerfile").read_text()
# Where each stateful service keeps its data inside the container.
STATE_DIRS = {"kafka": "/var/lib/kafka/data", "clickhouse": "/var/lib/clickhouse", "worker": "/var/lib/signals",
              "grafana": "/var/lib/grafana", "prometheus": "/prometheus"}
SETTING_NAMES = {env_name(field) for field in Settings.__struct_fields__}


def test_the_stack_has_the_services_we_document() -> None:
    assert {"kafka", "clickhouse", "worker"} <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_images_are_pinned_to_a_version(name) -> None:
    service = SERVICES[name]
    if "build" in service:  # built from this repository; its base image is checked below
        return
    image, _, tag = service["image"].rpartition(":")
    assert image and re.fullmatch(r"v?\d+(\.\d+)*[\w.-]*", tag), f"{name}: image {service['image']!r} is not pinned"


def test_the_worker_image_starts_from_a_pinned_base_and_runs_unprivileged() -> None:
    base = re.search(r"^FROM\s+(\S+)", DOCKERFILE, re.M).group(1)
    assert re.fullmatch(r"[\w./-]+:\d+(\.\d+)*[\w.-]*", base), base
    user = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.M)
    assert user and user[-1] not in ("root", "0")
    assert re.search(r'^CMD \["signals", "worker"\]', DOCKERFILE, re.M)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_health_check(name) -> None:
    check = SERVICES[name].get("healthcheck", {})
    assert check.get("test") and check.get("interval"), f"{name} has no health check"


@pytest.mark.parametrize("name", sorted(set(SERVICES) & set(STATE_DIRS)))
def test_stateful_services_keep_their_data_in_named_volumes(name) -> None:
    mounts = [str(m).split(":", 1) for m in SERVICES[name].get("volumes", [])]
    named = {target for source, target in mounts if source in (COMPOSE.get("volumes") or {})}
    assert any(target.startswith(STATE_DIRS[name]) for target in named), f"{name}: {STATE_DIRS[name]} not in a volume"


def test_the_worker_environment_names_real_settings() -> None:
    environment = SERVICES["worker"]["environment"]
    names = environment if isinstance(environment, list) else list(environment)
    names = [n.split("=", 1)[0] for n in names]
    unknown = [n for n in names if n.startswith("SIGNALS_") and n not in SETTING_NAMES]
    assert not unknown, f"not settings: {unknown}"


def test_the_worker_waits_for_healthy_dependencies() -> None:
    depends = SERVICES["worker"]["depends_on"]
    assert {name: spec["condition"] for name, spec in depends.items()} == {
        "kafka": "service_healthy", "clickhouse": "service_healthy"}


def passwords(value, path=""):
    """(where, value) of every PASSWORD/TOKEN-named entry and of every DSN with credentials."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from passwords(item, f"{path}.{key}")
            if re.search(r"PASSWORD|TOKEN|SECRET", str(key)) and not isinstance(item, dict | list):
                yield f"{path}.{key}", str(item)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from passwords(item, f"{path}[{i}]")
    elif isinstance(value, str):
        for credential in re.findall(r"//[^:/@\s]+:([^@\s]+)@", value):
            yield path, credential


def test_no_secret_is_left_at_a_default() -> None:
    found = list(passwords(SERVICES))
    assert any("CLICKHOUSE_PASSWORD" in where for where, _ in found)
    for where, value in found:
        if value.startswith("/run/secrets/") or "_FILE" in where:
            continue
        assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", value), f"{where}: {value!r} must be ${{NAME:?message}}"
