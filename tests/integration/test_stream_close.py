"""Sessions without a SessionEnd close on event-time inactivity, or on wall-clock idleness."""

from __future__ import annotations

import asyncio
import json

import pytest
from aiokafka import AIOKafkaProducer

from detectors.session import analyze
from streams.codec import encode_events, encode_report
from streams.kafka import client_options, ensure_topics
from streams.settings import Settings
from tests.builders import A, U, conv
from tests.support.kafka import final_records, read_topic

pytestmark = pytest.mark.integration


async def send(kafka: str, topic: str, *trajectories: list) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.split("://")[-1])
    await producer.start()
    try:
        for events in trajectories:
            for event in events:
                await producer.send_and_wait(topic, encode_events([event]), key=event.trajectory_id.encode())
    finally:
        await producer.stop()


def as_record(events: list) -> dict:
    return json.loads(encode_report(analyze(events[0].trajectory_id, events, pipeline_version="v")))


def test_inactivity_gap_closes_by_event_time_and_idle_tick_closes_quiet_sessions(
        kafka_url, stream_names, start_worker) -> None:
    settings = Settings.from_env({"kafka": kafka_url, "partitions": 1, **stream_names})
    asyncio.run(ensure_topics(settings, client_options(settings)))  # one partition: one watermark
    start_worker("--partitions=1", "--inactivity-gap=100", "--idle-close=3", "--pipeline-version=v")
    old = conv("old", U("where is my refund?"), A("Let me check."), U("no, that's not what I asked"), start_ts=1000.0)
    new = conv("new", U("hello"), A("hi! how can I help?"), start_ts=5000.0)
    asyncio.run(send(kafka_url, stream_names["topic_events"], old))
    asyncio.run(send(kafka_url, stream_names["topic_events"], new))

    messages = read_topic(kafka_url, stream_names["topic_trajectories"],
                          until=lambda ms: {"old", "new"} <= set(final_records(ms)), timeout=60)
    finals = final_records(messages)
    assert finals["old"][-1] == as_record(old)  # content depends only on the events
    assert finals["new"][-1] == as_record(new)
    order = [json.loads(m.value)["id"] for m in messages if json.loads(m.value)["final"]]
    assert order.index("old") < order.index("new")  # event time closed "old" before the idle tick
    new_records = [json.loads(m.value) for m in messages if json.loads(m.value)["id"] == "new"]
    assert not new_records[0]["final"]  # "new" was open until the idle tick
