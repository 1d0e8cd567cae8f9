"""The runner's 3-broker KRaft cluster: topics with 3 replicas and min.insync.replicas 2, acks=all
writes that go on while one broker is killed -9, and nothing lost when it comes back."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from connectors.kafka.settings import KafkaSettings
from connectors.kafka.topics import JOB_OUTPUTS, RAW_TOPICS, TopicSpec, broker_configs, ensure_topics
from deploy.services import KafkaBroker


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with KafkaBroker(KafkaSettings(brokers=3, data_dir=tmp_path_factory.mktemp("kafka-cluster"))) as broker:
        yield broker


def describe(bootstrap: str, topics: list[str]) -> dict[str, dict]:
    """Per topic: its partitions' replicas and in-sync replicas, and its min.insync.replicas
    (asked again while a broker has not heard of a new topic yet)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + 30
    while True:
        try:
            metadata = admin.list_topics(timeout=30).topics
            resources = [ConfigResource(ResourceType.TOPIC, topic) for topic in topics]
            configs = {
                resource.name: future.result(30) for resource, future in admin.describe_configs(resources).items()
            }
            return {
                topic: {
                    "replicas": [sorted(p.replicas) for p in metadata[topic].partitions.values()],
                    "isrs": [sorted(p.isrs) for p in metadata[topic].partitions.values()],
                    "leaders": [p.leader for p in metadata[topic].partitions.values()],
                    "min_isr": configs[topic]["min.insync.replicas"].value,
                }
                for topic in topics
            }
        except (KeyError, KafkaException):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def produce(bootstrap: str, topic: str, values: range) -> None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "message.timeout.ms": 60_000}
    )
    failures = []
    for value in values:
        producer.produce(
            topic,
            str(value).encode(),
            str(value % 7).encode(),
            on_delivery=lambda error, _: error and failures.append(error),
        )
    assert producer.flush(90) == 0
    assert not failures, failures[:3]


def consume(bootstrap: str, topic: str, partitions: int) -> list[int]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
        }
    )
    consumer.subscribe([topic])
    values, at_end = [], set()
    try:
        while len(at_end) < partitions:
            message = consumer.poll(30)
            assert message is not None, "no answer from the cluster for 30 s"
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                at_end.add(message.partition())
                continue
            values.append(int(message.value()))
    finally:
        consumer.close()
    return values


def test_the_project_topics_get_three_replicas_and_min_isr_two(cluster):
    specs = [*RAW_TOPICS.values(), *JOB_OUTPUTS]
    ensure_topics(cluster.bootstrap, specs)
    described = describe(cluster.bootstrap, [spec.name for spec in specs])
    for spec in specs:
        topic = described[spec.name]
        assert topic["replicas"] == [[1, 2, 3]] * spec.partitions, (spec.name, topic)
        assert topic["min_isr"] == "2", spec.name
    internal = {
        name: value
        for name, value in broker_configs(cluster.bootstrap).items()
        if name.startswith(("offsets.topic.", "transaction.state.log.")) and name.endswith(("factor", "isr"))
    }
    assert internal == {
        "offsets.topic.replication.factor": "3",
        "transaction.state.log.replication.factor": "3",
        "transaction.state.log.min.isr": "2",
    }


def test_kcat_lists_three_brokers(cluster):
    if shutil.which("kcat") is None:
        pytest.skip("Debian's kcat is not installed (apt-get install kcat)")
    listing = subprocess.run(
        ["kcat", "-b", cluster.bootstrap, "-L"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert "3 brokers:" in listing
    for node in cluster.nodes:
        assert f"broker {node.node_id} at {node.bootstrap}" in listing


def test_acks_all_writes_go_on_with_a_broker_killed_and_nothing_is_lost(cluster):
    spec = TopicSpec(f"replicated-{uuid.uuid4().hex[:8]}", partitions=3)
    ensure_topics(cluster.bootstrap, [spec])
    produce(cluster.bootstrap, spec.name, range(0, 300))
    # the broker that leads the most partitions goes, as a crash would take it
    leaders = describe(cluster.bootstrap, [spec.name])[spec.name]["leaders"]
    victim = max(set(leaders), key=leaders.count)
    cluster.kill(victim)
    assert not cluster.node(victim).running()

    produce(cluster.bootstrap, spec.name, range(300, 600))  # 2 of 3 in sync: min.insync.replicas holds
    after = describe(cluster.bootstrap, [spec.name])[spec.name]
    assert victim not in after["leaders"]
    assert all(victim not in isr and len(isr) == 2 for isr in after["isrs"]), after
    assert sorted(consume(cluster.bootstrap, spec.name, spec.partitions)) == list(range(600))

    cluster.start_node(victim)
    produce(cluster.bootstrap, spec.name, range(600, 700))
    assert sorted(consume(cluster.bootstrap, spec.name, spec.partitions)) == list(range(700))
    offsets = describe(cluster.bootstrap, ["__consumer_offsets"])["__consumer_offsets"]  # made by the consumers
    assert offsets["replicas"][0] == [1, 2, 3]
