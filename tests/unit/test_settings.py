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


def test_every_flag_shows_its_environment_variable_and_default(capsys) -> None:
    from streams.cli import main
    from streams.cli.commands.flags import flag_of
    from streams.settings import SECRET_FIELDS, env_name

    with pytest.raises(SystemExit):
        main(["worker", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    shown = [f for f in Settings.__struct_fields__ if f not in SECRET_FIELDS and not f.startswith("fault_")]
    assert {"kafka_password", "alert_webhook", "web_token"} == SECRET_FIELDS  # secrets: environment only, never a flag
    assert "--web-token WEB_TOKEN" not in text and "--kafka-password KAFKA_PASSWORD" not in text
    for field in shown:
        assert f"{flag_of(field)} {field.upper()}" in text, field
        assert f"env {env_name(field)}, default" in text, field
    assert "(env SIGNALS_PARTITIONS, default 4)" in text and "(env SIGNALS_CLICKHOUSE_DATABASE, default signals)" in text


def test_every_clickhouse_command_reads_where_the_worker_writes(monkeypatch, tmp_path) -> None:
    from streams.cli import build_parser
    from streams.cli.commands.flags import settings_from_args

    monkeypatch.delenv("SIGNALS_CLICKHOUSE", raising=False)
    monkeypatch.setenv("SIGNALS_DATA_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SIGNALS_CLICKHOUSE_DATABASE", "team_a")
    worker = Settings.from_env()
    assert worker.clickhouse_dsn == f"chdb://{tmp_path / 'state' / 'clickhouse'}"
    parser = build_parser()
    for argv in (["sample"], ["export", "--out", "-"], ["stats"], ["load", "f"], ["migrate"], ["demo"],
                 ["replay", "--from", "beginning", "--pipeline-version", "1"], ["worker"]):
        settings = settings_from_args(parser.parse_args(argv))
        assert (settings.clickhouse_dsn, settings.clickhouse_database) == (worker.clickhouse_dsn, "team_a"), argv
    flagged = settings_from_args(parser.parse_args(["stats", "--dsn", "http://h:8123", "--database", "b"]))
    assert (flagged.clickhouse_dsn, flagged.clickhouse_database) == ("http://h:8123", "b")


def test_the_faust_tuning_and_topic_replication_come_from_settings() -> None:
    from streams.worker.app import create_app

    env = {"SIGNALS_COMMIT_EVERY": "7", "SIGNALS_COMMIT_INTERVAL_S": "0.5", "SIGNALS_STREAM_BUFFER_MAXSIZE": "99",
           "SIGNALS_TABLE_CLEANUP_INTERVAL_S": "60", "SIGNALS_TOPIC_REPLICATION": "3", "SIGNALS_STORE": "memory://"}
    conf = create_app(Settings.from_env(env=env)).conf
    assert (conf.broker_commit_every, conf.broker_commit_interval, conf.stream_buffer_maxsize) == (7, 0.5, 99)
    assert (conf.table_cleanup_interval, conf.topic_replication_factor) == (60.0, 3)


def test_bad_clickhouse_settings_are_cli_errors() -> None:
    with pytest.raises(CliError, match="database name"):
        Settings.from_env(env={"SIGNALS_CLICKHOUSE_DATABASE": "x; DROP TABLE y"})
    with pytest.raises(CliError, match="TTL"):
        Settings.from_env(env={"SIGNALS_CLICKHOUSE_TTL_DAYS": "-1"})


def test_otlp_topic_is_off_by_default_and_the_encoding_is_checked() -> None:
    settings = Settings.from_env(env={})
    assert (settings.topic_otlp, settings.otlp_encoding) == ("", "otlp_proto")
    chosen = Settings.from_env(env={"SIGNALS_TOPIC_OTLP": "otlp_spans", "SIGNALS_OTLP_ENCODING": "otlp_json"})
    assert (chosen.topic_otlp, chosen.otlp_encoding) == ("otlp_spans", "otlp_json")
    with pytest.raises(CliError, match="SIGNALS_OTLP_ENCODING"):
        Settings.from_env(env={"SIGNALS_OTLP_ENCODING": "jaeger_proto"})


def test_alert_settings_make_the_detector_config_and_the_webhook_is_masked() -> None:
    settings = Settings.from_env(env={"SIGNALS_ALERT_WINDOW_S": "60", "SIGNALS_ALERT_RATIO": "2.5",
                                      "SIGNALS_ALERT_WEBHOOK": "https://hooks.example/T0/secret"})
    config = settings.alert_config()
    assert (config.window_s, config.ratio, config.grace_s, config.min_count) == (60, 2.5, 60.0, 10)
    assert settings.topic_alerts == "agent-alerts"
    assert settings.masked()["alert_webhook"] == "***"
    with pytest.raises(CliError, match="ALERT_WINDOW_S"):
        Settings.from_env(env={"SIGNALS_ALERT_WINDOW_S": "0"})
