"""The worker's local table store is a cache of the changelog topics: drop it when Kafka no longer matches.

A rocksdb table store records, per partition, the last changelog offset it applied. When the Kafka
cluster behind the worker was replaced by a fresh one (``docker compose down -v`` on Kafka alone, a
new broker with an empty data dir), those offsets are above the new changelog's end and Faust's
recovery stops the worker with ``ConsistencyError`` ("The persisted offset for changelog topic
partition ... is higher than the last offset in that topic") on every start. ``reconcile`` runs
before Faust starts: it compares the Kafka cluster id recorded beside the store (``CLUSTER_FILE``)
with the broker's, and each persisted offset with its changelog partition's end offset; on a
mismatch it logs one line saying what it found and that it discards the store, deletes it, and
Faust rebuilds the tables from the changelog (which, on a fresh cluster, is empty: the sessions
start over; records already written downstream stay where they are).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

log = logging.getLogger("signals.worker")
CLUSTER_FILE = "kafka-cluster-id"
OFFSET_KEY = b"__faust\x00offset__"  # where faust's rocksdb store keeps a partition's changelog offset


def persisted_offsets(tabledir: Path) -> dict[tuple[str, int], int]:
    """(table name, partition) -> the changelog offset its rocksdb partition store last applied."""
    from rocksdict import AccessType, Options, Rdict

    found: dict[tuple[str, int], int] = {}
    for path in sorted(tabledir.glob("*-*.db")):
        name, _, partition = path.name[: -len(".db")].rpartition("-")
        if not partition.isdigit():
            continue
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            raw = db.get(OFFSET_KEY)
        finally:
            db.close()
        if raw is not None:
            found[(name, int(partition))] = int(raw)
    return found


def mismatch(recorded_cluster: str | None, cluster: str, persisted: dict[tuple[str, int], int],
             ends: dict[tuple[str, int], int]) -> str | None:
    """What does not match (None: the store is consistent with this Kafka cluster).
    ``ends``: (table, partition) -> end offset of its changelog partition (0 when it has none)."""
    if recorded_cluster and recorded_cluster != cluster:
        return f"the store was written against Kafka cluster {recorded_cluster}, the broker now is cluster {cluster}"
    for (table, partition), offset in sorted(persisted.items()):
        end = ends.get((table, partition), 0)
        if offset >= end:  # the last offset in the topic is end - 1
            return (f"table {table} partition {partition} applied changelog offset {offset}, "
                    f"but the changelog ends at {end}")
    return None


async def _kafka_view(options: dict[str, Any], changelogs: dict[str, str],
                      partitions: set[tuple[str, int]]) -> tuple[str, dict[tuple[str, int], int]]:
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**options)
    consumer = AIOKafkaConsumer(enable_auto_commit=False, **options)
    await admin.start()
    await consumer.start()
    try:
        cluster = str((await admin.describe_cluster()).get("cluster_id") or "")
        existing = await consumer.topics()
        wanted = {(table, p): TopicPartition(changelogs[table], p) for table, p in partitions
                  if table in changelogs and changelogs[table] in existing}
        available = {tp for tp in wanted.values() if p_exists(consumer, tp)}
        end_offsets = await consumer.end_offsets(list(available)) if available else {}
    finally:
        await consumer.stop()
        await admin.close()
    return cluster, {key: int(end_offsets.get(tp, 0)) for key, tp in wanted.items()}


def p_exists(consumer: Any, tp: Any) -> bool:
    return tp.partition in (consumer.partitions_for_topic(tp.topic) or set())


async def reconcile(tabledir: Path, cluster_file: Path, options: dict[str, Any], changelogs: dict[str, str]) -> bool:
    """Check the local store against Kafka; discard it on a mismatch. True if it was discarded.
    ``options``: aiokafka connection options; ``changelogs``: table name -> its changelog topic."""
    persisted = persisted_offsets(tabledir) if tabledir.exists() else {}
    cluster, ends = await _kafka_view(options, changelogs, set(persisted))
    recorded = cluster_file.read_text().strip() if cluster_file.exists() else None
    found = mismatch(recorded, cluster, persisted, ends)
    if found:
        log.warning("local table store %s does not match Kafka (%s): discarding it and rebuilding the tables "
                    "from their changelog topics", tabledir, found)
        shutil.rmtree(tabledir, ignore_errors=True)
    if cluster:
        cluster_file.parent.mkdir(parents=True, exist_ok=True)
        cluster_file.write_text(cluster + "\n")
    return found is not None
