"""`signals migrate --cluster NAME`: the Replicated/Distributed form of every schema file.

No cluster runs here (it needs Keeper and several servers), so the DDL is checked by the real
engine's parser (formatQuery) and by structure: every table of the single-node schema becomes a
Replicated ``_local`` table plus a Distributed table under the public name, sharded by trajectory.
"""

from __future__ import annotations

import re

import pytest

from sinks.cluster import cluster_statements
from sinks.migrate import TTL_TABLES, migrate, migration_files, schema_statements, statements
from streams.cli.main import main
from tests.support.chdb import shared_client

DB, CLUSTER = "signals", "prod"


def single_node() -> list[str]:
    return [s for _, _, path in migration_files() for s in statements(path.read_text(), DB)]


def clustered() -> list[str]:
    return [s for _, _, path in migration_files() for s in schema_statements(path, DB, CLUSTER)]


def created_tables(ddl: list[str]) -> dict[str, str]:
    found = (re.match(rf"CREATE TABLE IF NOT EXISTS {DB}\.(\w+)", s) for s in ddl)
    return {m.group(1): s for m, s in zip(found, ddl, strict=True) if m}


@pytest.fixture(scope="module")
def engine():
    return shared_client()  # the process's one embedded path


def test_every_cluster_statement_parses_in_the_real_engine(engine) -> None:
    for statement in clustered():
        formatted = engine.query("SELECT formatQuery({q:String})", parameters={"q": statement}).result_rows[0][0]
        assert f"ON CLUSTER {CLUSTER}" in formatted


def test_every_table_becomes_replicated_local_plus_distributed_under_its_own_name() -> None:
    public = set(created_tables(single_node()))
    tables = created_tables(clustered())
    assert set(tables) == public | {f"{t}_local" for t in public}
    for table in public:
        local = tables[f"{table}_local"]
        assert re.search(rf"ENGINE = Replicated\w+MergeTree\('/clickhouse/tables/{{shard}}/{DB}/{table}_local', "
                         r"'\{replica\}'", local), local
        assert "non_replicated_deduplication_window" not in local
        assert "replicated_deduplication_window = 1000" in local
        distributed = tables[table]
        assert f"AS {DB}.{table}_local ENGINE = Distributed('{CLUSTER}', {DB}, {table}_local, " in distributed


def test_trajectory_tables_shard_by_trajectory_so_final_stays_on_one_shard() -> None:
    tables = created_tables(clustered())
    for table in ("trajectories", "trajectory_versions", "signals", "events"):
        assert tables[table].endswith(f"{table}_local, xxHash64(trajectory_id))"), table
    assert tables["signal_rollup_hourly"].endswith("rand())")  # filled per shard by its view, never inserted into


def test_version_columns_survive_replication() -> None:
    tables = created_tables(clustered())
    assert "version)" in tables["trajectories_local"].split("ENGINE = ")[1].split("\n")[0]
    assert tables["trajectory_versions_local"].count(f"AS {DB}.trajectories_local") == 1
    assert "ReplicatedAggregatingMergeTree" in tables["signal_rollup_hourly_local"]


def test_views_read_and_write_local_tables() -> None:
    views = [s for s in clustered() if s.startswith("CREATE MATERIALIZED VIEW")]
    assert views and all(f" TO {DB}.signal_rollup_hourly_local AS" in v and f"FROM {DB}.signals_local" in v
                         for v in views)


def test_column_changes_reach_both_the_local_and_the_distributed_table() -> None:
    alters = [s.split(" ON CLUSTER")[0] for s in clustered() if s.startswith("ALTER")]
    assert f"ALTER TABLE {DB}.trajectories_local" in alters and f"ALTER TABLE {DB}.trajectories" in alters


def test_unknown_statements_are_refused_not_copied() -> None:
    with pytest.raises(ValueError, match="no cluster form"):
        cluster_statements([f"DROP TABLE {DB}.x"], CLUSTER)


class Recorder:
    """A client that records statements (on a supported server, with no migration applied yet)."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self.inserted: list[list] = []

    def command(self, sql: str):
        return "26.9.2.1" if sql == "SELECT version()" else self.commands.append(sql)

    def query(self, sql: str):
        return type("Result", (), {"result_rows": []})()

    def insert(self, table, rows, column_names, database):
        self.inserted.extend(rows)


def test_migrate_on_a_cluster_runs_everything_on_cluster_with_ttl_on_local_tables() -> None:
    client = Recorder()
    report = migrate(client, DB, ttl_days=30, cluster=CLUSTER)
    assert [version for version, _, applied in report if applied] == [v for v, _, _ in migration_files()]
    assert all(f"ON CLUSTER '{CLUSTER}'" in sql for sql in client.commands)
    assert "ReplicatedReplacingMergeTree" in next(s for s in client.commands if "schema_migrations" in s)
    ttl = [s for s in client.commands if "MODIFY TTL" in s]
    assert [s.split()[2] for s in ttl] == [f"{DB}.{t}_local" for t in TTL_TABLES]
    assert client.commands[2:2 + len(clustered())] == clustered()


def test_cli_prints_the_cluster_ddl_without_a_server(capsys) -> None:
    assert main(["migrate", "--cluster", CLUSTER, "--print", "--database", DB]) == 0
    out = capsys.readouterr().out
    assert out.count(f"ON CLUSTER '{CLUSTER}'") == len(clustered())
    assert "ENGINE = Distributed('prod', signals, trajectories_local, xxHash64(trajectory_id))" in out


def test_a_bad_cluster_name_is_a_clear_cli_error(capsys) -> None:
    assert main(["migrate", "--cluster", "prod; DROP", "--print"]) == 2
    assert "SIGNALS_CLICKHOUSE_CLUSTER" in capsys.readouterr().err
