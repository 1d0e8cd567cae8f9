"""A PyFlink SQL job through the Kafka connector gives the same output in the local
mini-cluster and on the standalone cluster at parallelism 2."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from pipeline.runtime import run_local, submit

COPY_JOB = Path(__file__).resolve().parent.parent / "jobs" / "kafka_copy.py"
PORTS = ["luohu", "futian", "huanggang", "shenzhen_bay"]


def _read_all(bootstrap: str, topic: str) -> list[dict]:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000)
    rows = [json.loads(record.value) for record in consumer]
    consumer.close()
    return sorted(rows, key=lambda row: row["id"])


def test_copy_job_local_and_on_the_cluster_agree(kafka_broker, flink_cluster):
    run = uuid.uuid4().hex[:8]
    source, local_sink, cluster_sink = (f"{name}-{run}" for name in ("copy-in", "copy-local", "copy-cluster"))
    admin = KafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap)
    admin.create_topics(
        [NewTopic(t, num_partitions=2, replication_factor=1) for t in (source, local_sink, cluster_sink)]
    )
    admin.close()
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap, acks="all")
    for i in range(200):
        row = {"id": i, "port": PORTS[i % len(PORTS)], "minutes": i % 45}
        producer.send(source, key=row["port"].encode(), value=json.dumps(row).encode())
    producer.flush()
    producer.close()

    common = ["--bootstrap", kafka_broker.bootstrap, "--source", source]
    run_local(COPY_JOB, [*common, "--sink", local_sink], timeout_s=240)
    submit(
        COPY_JOB,
        [*common, "--sink", cluster_sink],
        flink_cluster.rest_url,
        parallelism=2,
        timeout_s=240,
        flink=flink_cluster.settings,
    )

    expected = [{"id": i, "port": PORTS[i % len(PORTS)].upper(), "seconds": (i % 45) * 60} for i in range(200)]
    assert _read_all(kafka_broker.bootstrap, local_sink) == expected
    assert _read_all(kafka_broker.bootstrap, cluster_sink) == expected
    finished = flink_cluster.overview()
    assert finished is not None and finished["jobs-finished"] >= 1
