"""The runner's broker is a real Kafka: kafka-python and kcat talk to it."""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic


def test_produce_and_consume_through_the_broker(kafka_broker):
    topic = f"foundation-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    admin.close()

    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all", enable_idempotence=True)
    keys = {f"key-{i}".encode() for i in range(5)}
    for i in range(100):
        producer.send(topic, key=f"key-{i % 5}".encode(), value=str(i).encode())
    producer.flush()
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_broker.bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        consumer_timeout_ms=5000,
    )
    records = list(consumer)
    consumer.close()

    assert sorted(int(r.value) for r in records) == list(range(100))
    partitions_by_key = {}
    for record in records:
        partitions_by_key.setdefault(record.key, set()).add(record.partition)
    assert set(partitions_by_key) == keys
    assert all(len(parts) == 1 for parts in partitions_by_key.values())


def test_transactions_work_on_one_node(kafka_broker):
    topic = f"tx-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, transactional_id=f"t-{topic}")
    producer.init_transactions()
    producer.begin_transaction()
    producer.send(topic, b"aborted")
    producer.abort_transaction()
    producer.begin_transaction()
    producer.send(topic, b"committed")
    producer.commit_transaction()
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=kafka_broker.bootstrap,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        consumer_timeout_ms=5000,
    )
    assert [r.value for r in consumer] == [b"committed"]
    consumer.close()


def test_kcat_lists_one_broker(kafka_broker):
    if shutil.which("kcat") is None:
        pytest.skip("Debian's kcat is not installed (apt-get install kcat)")
    listing = subprocess.run(
        ["kcat", "-b", kafka_broker.bootstrap, "-L"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert "1 brokers:" in listing
    assert f"broker 1 at {kafka_broker.bootstrap}" in listing
