"""The group reader on a real broker, over a topic written in transactions as the job writes
its outputs: aborted records are never read, and the end of each partition is known although
transaction markers take the last offsets."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Producer, TopicPartition

from connectors.kafka.consumer import GroupReader
from connectors.kafka.topics import TopicSpec, ensure_topics


def write_in_transactions(bootstrap: str, topic: str) -> list[bytes]:
    """Two committed transactions around an aborted one; returns the committed values."""
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"test-{uuid.uuid4()}"})
    producer.init_transactions(30)
    committed = []
    for number, commit in ((0, True), (1, False), (2, True)):
        producer.begin_transaction()
        for index in range(5):
            value = f"{number}-{index}".encode()
            producer.produce(topic, value, key=str(index).encode())
            if commit:
                committed.append(value)
        producer.flush(30)
        if commit:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)
    return committed


def read_to_end(reader: GroupReader, timeout_s: float = 60.0) -> list:
    records, deadline = [], time.monotonic() + timeout_s
    while not reader.at_end():
        assert time.monotonic() < deadline, f"not at the end after {timeout_s} s: {len(records)} records read"
        records += reader.poll(100, 0.5)
    return records


def test_committed_records_are_read_and_the_end_is_known_past_the_transaction_markers(kafka_broker):
    bootstrap, topic, group = kafka_broker.bootstrap, f"test.reader.{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4()}"
    ensure_topics(bootstrap, [TopicSpec(topic, partitions=2)])
    committed = write_in_transactions(bootstrap, topic)

    reader = GroupReader(bootstrap, group, "test-reader", [topic])
    try:
        reader.subscribe()
        records = read_to_end(reader)
        assert sorted(record.value for record in records) == sorted(committed)
        assert reader.lag() == {topic: 0}
        last = {}
        for record in records:
            last[record.topic, record.partition] = record.offset + 1
        for (_, partition), after_last in last.items():  # the markers: the end is past the last record
            assert reader.consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=False)[1] > after_last
        reader.commit(last)
    finally:
        reader.close()

    again = GroupReader(bootstrap, group, "test-reader", [topic])
    try:
        again.subscribe()
        assert read_to_end(again) == [] and again.lag() == {topic: 0}
    finally:
        again.close()
