"""`make bench-produce`: events/s from the simulator into a real broker, per stage and end to
end, with kafka-python and confluent-kafka side by side on the same serialised events.

Starts its own broker in a temporary folder (stopped at the end), or uses
KAFKA_BOOTSTRAP_SERVERS. Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from contextlib import ExitStack
from datetime import date, datetime
from datetime import time as day_time
from pathlib import Path

from confluent_kafka import Producer
from kafka import KafkaProducer
from pydantic import SecretStr

from connectors.kafka.producer import CrossingProducer
from connectors.kafka.settings import KafkaSettings
from connectors.kafka.topics import RAW_TOPICS, TopicSpec, ensure_topics
from connectors.sources.simulator import SimulatorSource
from deploy.services import KafkaBroker
from schemas.ports import SHENZHEN_TZ
from schemas.privacy import Pseudonymiser

TARGET_EVENTS_PER_S = 50_000
EVENTS_PER_DAY_AT_LEAST = 500_000


def simulated(events: int, seed: int):
    """The first `events` crossings of full-scale simulated days (all ports and kinds) from
    1 May 2024, over as many days as they need (a day holds about 594k)."""
    days = -(-events // EVENTS_PER_DAY_AT_LEAST)
    source = SimulatorSource(
        datetime.combine(date(2024, 5, 1), day_time(0), SHENZHEN_TZ),
        24 * days,
        seed=seed,
        pseudonymiser=Pseudonymiser(SecretStr(os.urandom(16).hex())),
    )
    count = 0
    for count, event in enumerate(source.events(), 1):
        yield event
        if count == events:
            return
    raise RuntimeError(f"{days} simulated days hold {count} events, fewer than the {events} asked for")


def rate(count: int, started: float) -> float:
    return round(count / (time.perf_counter() - started))


def kafka_python_rate(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        compression_type="lz4",
        linger_ms=20,
        batch_size=1_000_000,
    )
    started = time.perf_counter()
    for key, value in records:
        producer.send(topic, key=key, value=value)
    producer.flush()
    result = rate(len(records), started)
    producer.close()
    return result


def confluent_rate(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> float:
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": "lz4",
            "linger.ms": 20,
            "batch.size": 1_000_000,
            "queue.buffering.max.messages": 500_000,
        }
    )
    started = time.perf_counter()
    for key, value in records:
        while True:
            try:
                producer.produce(topic, value, key)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120):
        raise RuntimeError("confluent-kafka: records unacknowledged after 120 s")
    return rate(len(records), started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    with ExitStack() as stack:
        bootstrap = KafkaSettings().bootstrap_servers
        if not bootstrap:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-kafka-")))
            bootstrap = stack.enter_context(KafkaBroker(KafkaSettings(data_dir=data_dir))).bootstrap
        client_topics = [TopicSpec("bench.kafka-python"), TopicSpec("bench.confluent-kafka")]
        ensure_topics(bootstrap, client_topics)

        started = time.perf_counter()
        events = list(simulated(args.events, args.seed))
        source_rate = rate(len(events), started)
        started = time.perf_counter()
        records = [(event.port_code.encode(), event.to_json()) for event in events]
        serialise_rate = rate(len(records), started)
        del events

        clients = {
            "kafka-python": kafka_python_rate(bootstrap, client_topics[0].name, records),
            "confluent-kafka": confluent_rate(bootstrap, client_topics[1].name, records),
        }
        started = time.perf_counter()
        with CrossingProducer(bootstrap) as producer:
            producer.send_all(simulated(args.events, args.seed + 1))
        end_to_end = rate(sum(producer.sent.values()), started)

    print(
        json.dumps(
            {
                "benchmark": "produce",
                "events": len(records),
                "mean_event_bytes": round(sum(len(v) for _, v in records) / len(records)),
                "stages_events_per_s": {"simulator": source_rate, "serialise": serialise_rate},
                "producer_events_per_s": clients,
                "chosen_client": "confluent-kafka",
                "end_to_end_events_per_s": end_to_end,
                "raw_topics": sorted(spec.name for spec in RAW_TOPICS.values()),
                "target_events_per_s": TARGET_EVENTS_PER_S,
                "meets_target": end_to_end >= TARGET_EVENTS_PER_S,
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
