"""Apply sinks/schema/NNN_*.sql in order, once each, recorded in ``schema_migrations``.

Every statement is ``CREATE ... IF NOT EXISTS`` or ``ADD COLUMN IF NOT EXISTS``, so re-running is harmless even if the record of a
migration was lost. A TTL (``ttl_days``: the caller's SIGNALS_CLICKHOUSE_TTL_DAYS) is applied with ALTER ... MODIFY TTL.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Final

from sinks.client import check_server
from sinks.cluster import cluster_statements, local, migrations_table, quote

SCHEMA_DIR: Final = Path(__file__).parent / "schema"
_FILE: Final = re.compile(r"^(\d{3})_(\w+)\.sql$")
TTL_TABLES: Final = ("trajectories", "trajectory_versions", "signals", "events")


def migration_files(directory: Path = SCHEMA_DIR) -> list[tuple[int, str, Path]]:
    found = ((_FILE.match(p.name), p) for p in directory.iterdir())
    return sorted((int(m.group(1)), m.group(2), p) for m, p in found if m)


def statements(sql: str, database: str) -> list[str]:
    """Split a schema file on `;` at line ends, drop comments, substitute the database."""
    body = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip().replace("{db}", database) for s in re.split(r";\s*$", body, flags=re.M) if s.strip()]


def applied_versions(client: Any, database: str) -> set[int]:
    rows = client.query(f"SELECT version FROM {database}.schema_migrations FINAL").result_rows
    return {int(row[0]) for row in rows}


def schema_statements(path: Path, database: str, cluster: str = "") -> list[str]:
    """The statements of one migration file, in their cluster form when ``cluster`` names one."""
    found = statements(path.read_text(), database)
    return cluster_statements(found, cluster) if cluster else found


def migrate(client: Any, database: str, *, ttl_days: int | None = None,
            cluster: str = "") -> list[tuple[int, str, bool]]:
    """Apply pending migrations; return (version, name, applied_now) for every known migration.
    Refuses (UnsupportedVersion) a server older than sinks.client.SERVER_FLOOR before changing anything.
    With ``cluster``, every statement runs ON CLUSTER in its Replicated/Distributed form (sinks/cluster.py)."""
    check_server(client)
    on_cluster = f" ON CLUSTER {quote(cluster)}" if cluster else ""
    client.command(f"CREATE DATABASE IF NOT EXISTS {database}{on_cluster}")
    client.command(migrations_table(database, cluster) if cluster else
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations (version UInt32, name String, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree ORDER BY version"
    )
    done = applied_versions(client, database)
    report = []
    for version, name, path in migration_files():
        pending = version not in done
        if pending:
            for statement in schema_statements(path, database, cluster):
                client.command(statement)
            client.insert("schema_migrations", [[version, name]], column_names=["version", "name"], database=database)
        report.append((version, name, pending))
    if ttl_days is not None:
        apply_ttl(client, database, ttl_days, cluster)
    return report


def apply_ttl(client: Any, database: str, days: int, cluster: str = "") -> None:
    """On a cluster the TTL belongs to the local tables (Distributed ones store nothing)."""
    for table in TTL_TABLES:
        target = f"{local(table)} ON CLUSTER {quote(cluster)}" if cluster else table
        client.command(f"ALTER TABLE {database}.{target} MODIFY TTL toDateTime(inserted_at) + INTERVAL {int(days)} DAY")
