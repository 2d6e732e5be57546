"""streams.settings: env -> Settings, flags override env, secrets masked."""

from __future__ import annotations

import pytest

from streams.errors import CliError
from streams.settings import Settings, package_version


def test_defaults_without_environment() -> None:
    settings = Settings.from_env(env={})
    assert (settings.kafka, settings.partitions, settings.store) == ("kafka://127.0.0.1:9092", 4, "rocksdb://")
    assert (settings.topic_events, settings.topic_dlq) == ("agent-events", "agent-events-dlq")
    assert settings.pipeline_version == package_version() != ""
    assert (settings.metrics_port, settings.max_event_bytes, settings.inactivity_gap_s) == (9108, 1 << 20, 1800.0)


def test_environment_is_parsed_to_field_types() -> None:
    env = {"SIGNALS_KAFKA": "kafka://a:1,b:2", "SIGNALS_PARTITIONS": "8", "SIGNALS_IDLE_CLOSE_S": "2.5",
           "SIGNALS_STORE": "memory://", "SIGNALS_TOPIC_SIGNALS": "sig", "SIGNALS_PIPELINE_VERSION": "v7"}
    settings = Settings.from_env(env=env)
    assert (settings.partitions, settings.idle_close_s, settings.store) == (8, 2.5, "memory://")
    assert (settings.topic_signals, settings.pipeline_version) == ("sig", "v7")
    assert settings.brokers == ["a:1", "b:2"]


def test_flags_override_environment_and_none_means_not_given() -> None:
    env = {"SIGNALS_PARTITIONS": "8", "SIGNALS_STORE": "memory://"}
    settings = Settings.from_env({"partitions": 2, "store": None}, env=env)
    assert (settings.partitions, settings.store) == (2, "memory://")


def test_invalid_values_raise_a_cli_error() -> None:
    with pytest.raises(CliError, match="partitions"):
        Settings.from_env(env={"SIGNALS_PARTITIONS": "many"})
    with pytest.raises(CliError, match="PARTITIONS"):
        Settings.from_env(env={"SIGNALS_PARTITIONS": "0"})


def test_password_from_file_is_masked(tmp_path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("hunter2\n")
    env = {"SIGNALS_KAFKA_PASSWORD_FILE": str(secret), "SIGNALS_KAFKA_USERNAME": "svc",
           "SIGNALS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}
    settings = Settings.from_env(env=env)
    assert settings.kafka_password == "hunter2"
    shown = settings.masked()
    assert shown["kafka_password"] == "***" and shown["kafka_username"] == "svc"
    assert "hunter2" not in repr(shown)


def test_missing_password_file_is_a_cli_error(tmp_path) -> None:
    with pytest.raises(CliError, match="PASSWORD_FILE"):
        Settings.from_env(env={"SIGNALS_KAFKA_PASSWORD_FILE": str(tmp_path / "absent")})
