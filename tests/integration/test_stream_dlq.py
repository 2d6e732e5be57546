"""Bad input goes to the DLQ with its original bytes and reason headers; good input still flows."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import AIOKafkaProducer

from detectors.session import analyze
from streams.codec import encode_events
from tests.builders import A, End, U, conv
from tests.support.kafka import final_records, read_topic

pytestmark = pytest.mark.integration
MAX_BYTES = 2000

BAD: list[tuple[bytes | None, bytes, str]] = [  # (key, value, expected reason)
    (b"g1", b"\x00\xff\xfe garbage \x81", "encoding"),
    (b"g2", b'{"kind":"user","trajectory_id":"g2",', "json"),
    (b"g3", b'{"kind":"user","trajectory_id":"g3","seq":"zero"}', "schema"),
    (b"g4", encode_events(conv("g4", U("x" * (MAX_BYTES + 10)))), "oversize"),
    (b"someone-else", encode_events(conv("g5", U("hi"))), "key_mismatch"),
    (b"g6", encode_events([*conv("g6", U("a")), *conv("g7", U("b"))]), "mixed_trajectories"),
]


def good(index: int) -> list:
    return conv(f"ok-{index}", U("hello there"), A("hi, how can I help?"), U("thanks, that's all"), End())


async def send_interleaved(kafka: str, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.split("://")[-1])
    await producer.start()
    try:
        for index, (key, value, _) in enumerate(BAD):
            events = good(index)
            await producer.send_and_wait(topic, encode_events(events[:2]), key=events[0].trajectory_id.encode())
            await producer.send_and_wait(topic, value, key=key, headers=[("origin", b"test")])
            await producer.send_and_wait(topic, encode_events(events[2:]), key=events[0].trajectory_id.encode())
    finally:
        await producer.stop()


def test_bad_messages_land_in_dlq_and_good_ones_still_produce_records(kafka_url, stream_names, start_worker) -> None:
    worker = start_worker(f"--max-event-bytes={MAX_BYTES}")
    asyncio.run(send_interleaved(kafka_url, stream_names["topic_events"]))

    dead = read_topic(kafka_url, stream_names["topic_dlq"], until=lambda ms: len(ms) >= len(BAD))
    by_value = {m.value: m for m in dead}
    assert len(dead) == len(BAD)
    for key, value, reason in BAD:
        message = by_value[value]  # original bytes, untouched
        headers = dict(message.headers)
        assert message.key == key
        assert headers["x-error-reason"].decode() == reason
        assert headers["x-error-detail"]
        assert headers["x-source-topic"].decode() == stream_names["topic_events"]
        assert int(headers["x-source-partition"]) >= 0 and int(headers["x-source-offset"]) >= 0
        assert headers["origin"] == b"test"  # the producer's own headers are kept
    schema = dict(by_value[BAD[2][1]].headers)["x-error-detail"].decode()
    assert schema == "Expected `int`, got `str` - at `$.seq`"

    records = read_topic(kafka_url, stream_names["topic_trajectories"],
                         until=lambda ms: len(final_records(ms)) >= len(BAD))
    finals = final_records(records)
    assert sorted(finals) == sorted(f"ok-{i}" for i in range(len(BAD)))
    for index in range(len(BAD)):
        want = analyze(f"ok-{index}", good(index))
        got = finals[f"ok-{index}"][-1]
        assert (got["quality"], got["counts"], got["events"]) == (want.quality, want.counts, want.events)
    assert worker.poll() is None
    assert not {json.loads(m.value)["id"] for m in records} & {"g1", "g2", "g3", "g4", "g5", "g6", "g7"}
