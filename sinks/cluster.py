"""The cluster variant of the schema, generated from the same sinks/schema/NNN_*.sql files.

For every table ``T`` of the single-node schema a cluster gets
- ``T_local`` on every node (``ON CLUSTER``), with the Replicated form of the engine
  (``ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/<db>/T_local', '{replica}', version)``);
- ``T`` under the public name, a ``Distributed`` table over ``T_local`` sharded by
  ``xxHash64(trajectory_id)``, so every version of a trajectory lands on one shard and ``FINAL``
  (and the cohort windows, which partition within a trajectory's agent) stay correct per shard.
Inserts and sampling reads use the public names, so the writer and the SQL are unchanged. Views read
from the local tables and write to the local target; ``ALTER ... ADD COLUMN`` goes to both tables.
Tables without a ``trajectory_id`` column (rollups) are sharded by ``rand()``: nobody inserts into
them directly, their views fill each shard locally.
"""

from __future__ import annotations

import re
from typing import Final

ENGINES: Final = ("ReplacingMergeTree", "AggregatingMergeTree", "SummingMergeTree", "MergeTree")
_CREATE: Final = re.compile(r"^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+)\b(.*)$", re.S)
_VIEW: Final = re.compile(r"^CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)\.(\w+) TO (\w+)\.(\w+)\s+AS\s+(.*)$", re.S)
_ALTER: Final = re.compile(r"^ALTER TABLE (\w+)\.(\w+)\b(.*)$", re.S)
_ENGINE: Final = re.compile(rf"ENGINE = ({'|'.join(ENGINES)})(?:\(([^)]*)\))?")
_AS_TABLE: Final = re.compile(r"^\s*AS (\w+)\.(\w+)")
_NON_REPLICATED: Final = re.compile(r",?\s*non_replicated_deduplication_window\s*=\s*\d+")
# Replicated tables deduplicate by insert_deduplication_token over this many recent blocks.
REPLICATED_SETTINGS: Final = "replicated_deduplication_window = 1000"


def local(table: str) -> str:
    return f"{table}_local"


def cluster_statements(statements: list[str], cluster: str) -> list[str]:
    """The cluster form of single-node schema statements (already split, database substituted)."""
    out: list[str] = []
    for statement in statements:
        out.extend(_convert(statement, quote(cluster)))
    return out


def quote(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][\w.-]*", name):
        raise ValueError(f"cluster name {name!r}: letters, digits, '_', '.', '-' only")
    return f"'{name}'"


def _convert(statement: str, cluster: str) -> list[str]:
    if view := _VIEW.match(statement):
        database, name, target_db, target, select = view.groups()
        select = re.sub(rf"\bFROM {database}\.(\w+)", rf"FROM {database}.\1_local", select)
        return [f"CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.{name} ON CLUSTER {cluster} "
                f"TO {target_db}.{local(target)} AS {select}"]
    if create := _CREATE.match(statement):
        database, table, body = create.groups()
        return [_local_table(database, table, body, cluster), _distributed(database, table, body, cluster)]
    if alter := _ALTER.match(statement):
        database, table, change = alter.groups()
        return [f"ALTER TABLE {database}.{name} ON CLUSTER {cluster}{change}" for name in (local(table), table)]
    raise ValueError(f"no cluster form for: {statement[:80]}")


def _local_table(database: str, table: str, body: str, cluster: str) -> str:
    body = _AS_TABLE.sub(lambda m: f" AS {m.group(1)}.{local(m.group(2))}", body)

    def replicated(match: re.Match[str]) -> str:
        args = [f"'/clickhouse/tables/{{shard}}/{database}/{local(table)}'", "'{replica}'"]
        args += [match.group(2)] if match.group(2) else []
        return f"ENGINE = Replicated{match.group(1)}({', '.join(args)})"

    body, engines = _ENGINE.subn(replicated, body, count=1)
    if not engines:
        raise ValueError(f"{database}.{table}: no MergeTree engine to replicate")
    body = _NON_REPLICATED.sub("", body)
    body = re.sub(r"SETTINGS\s*$", f"SETTINGS {REPLICATED_SETTINGS}", body.rstrip())
    if "SETTINGS" not in body[body.index("ENGINE"):]:
        body += f"\nSETTINGS {REPLICATED_SETTINGS}"
    return f"CREATE TABLE IF NOT EXISTS {database}.{local(table)} ON CLUSTER {cluster}{body}"


def _distributed(database: str, table: str, body: str, cluster: str) -> str:
    source = _AS_TABLE.match(body)
    sharded = "trajectory_id" in body or (source is not None and source.group(2) != table)
    key = "xxHash64(trajectory_id)" if sharded else "rand()"
    return (f"CREATE TABLE IF NOT EXISTS {database}.{table} ON CLUSTER {cluster} AS {database}.{local(table)} "
            f"ENGINE = Distributed({cluster}, {database}, {local(table)}, {key})")


def migrations_table(database: str, cluster: str) -> str:
    """The record of applied migrations, one replicated table every node shares (no shard macro)."""
    return (f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations ON CLUSTER {quote(cluster)} "
            "(version UInt32, name String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
            f"ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{database}/schema_migrations', '{{replica}}') "
            "ORDER BY version")
