"""Fakes of the Faust objects the worker's ingest adapter (streams/worker/agents.py) touches: input
messages, stream events, topics, the producer, a partitioned table, and an ``Ingest`` over them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from streams.codec import TICK_HEADERS, encode_events


@dataclass
class Msg:
    partition: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None
    offset: int = 0
    timestamp: float = 0.0
    topic: str = "events"


def msg(events: list, partition: int = 0, key: bytes | str | None = "auto") -> Msg:
    tid = events[0].trajectory_id.encode()
    return Msg(partition, tid if key == "auto" else key, encode_events(events))  # type: ignore[arg-type]


def tick(partition: int = 0) -> Msg:
    return Msg(partition, None, b"", list(TICK_HEADERS))


@dataclass
class FakeEvent:  # a Faust stream event: .message (weak-referenceable, like Faust's)
    message: Msg


@dataclass
class FakeTopic:
    name: str

    def get_topic_name(self) -> str:
        return self.name


@dataclass
class FakeProducer:
    sent: list[tuple[str, bytes | None, bytes | None, Any]] = field(default_factory=list)
    partitions: list[Any] = field(default_factory=list)  # the partition argument of each send
    changelog: list[Any] = field(default_factory=list)  # the FutureMessages of send_soon

    async def send(self, topic: str, key: bytes | None, value: bytes | None, partition: Any,
                   timestamp: Any, headers: Any) -> None:
        self.sent.append((topic, key, value, headers))
        self.partitions.append(partition)

    def send_soon(self, message: Any) -> None:  # a real Faust table's changelog write
        self.changelog.append(message)


class PartitionedTable:
    """A Faust table on the RocksDB store, as far as the adapter can tell: one store per partition,
    and a read or write goes to the partition of the current event (Faust's ``_current_event``)."""

    def __init__(self) -> None:
        self.parts: dict[int, dict[bytes, bytes]] = {}

    def _part(self) -> dict[bytes, bytes]:
        from faust.streams import _current_event

        event = _current_event.get()()  # type: ignore[misc]
        return self.parts.setdefault(event.message.partition, {})

    def get(self, key: bytes) -> bytes | None:
        return self._part().get(key)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._part()[key] = value

    def __contains__(self, key: bytes) -> bool:
        return key in self._part()

    def __delitem__(self, key: bytes) -> None:
        del self._part()[key]

    def items(self) -> list[tuple[bytes, bytes]]:
        return [item for part in self.parts.values() for item in part.items()]


@dataclass
class FakeConsumer:
    """The consumer as the adapter reads it: the assigned partitions and their highwater marks."""

    highwaters: dict[Any, int | None] = field(default_factory=dict)  # TopicPartition -> highwater

    def assignment(self) -> set[Any]:
        return set(self.highwaters)

    def highwater(self, tp: Any) -> int | None:
        return self.highwaters[tp]


def fake_ingest(env: dict[str, str], *, table: Any = None, consumer: FakeConsumer | None = None,
                engine: Any = None) -> tuple[Any, FakeProducer]:
    """An ``Ingest`` over fakes (topics ev, sig, traj, dlq), with the settings of ``env``."""
    from types import SimpleNamespace

    from detectors.session import DEFAULT_ENGINE
    from streams.settings import Settings
    from streams.worker.agents import Ingest
    from streams.worker.metrics import Metrics
    from streams.worker.topics import Topics

    producer = FakeProducer()
    topics = Topics(events=FakeTopic("ev"), signals=FakeTopic("sig"), trajectories=FakeTopic("traj"),
                    dlq=FakeTopic("dlq"))
    app = SimpleNamespace(producer=producer, consumer=consumer or FakeConsumer())
    ingest = Ingest(app, topics, {} if table is None else table, Settings.from_env(env=env), Metrics(),
                    engine or DEFAULT_ENGINE)
    return ingest, producer
