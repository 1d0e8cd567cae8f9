"""Writes crossings to their raw topics: idempotent, acks=all, keyed by port, lz4-batched.

The producer is librdkafka's (confluent-kafka): `make bench-produce` measures it beside
kafka-python on the same events, and only it keeps up with the simulator here.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

from confluent_kafka import KafkaError, Message, Producer

from connectors.kafka.topics import RAW_TOPICS, ensure_topics
from schemas.events import Crossing

log = logging.getLogger(__name__)


class ProduceError(RuntimeError):
    """Some records were not acknowledged by the broker."""


class CrossingProducer:
    """One producer for the whole run; `close()` flushes and reports delivery failures."""

    def __init__(self, bootstrap: str, linger_ms: int = 20, flush_timeout_s: float = 120.0) -> None:
        ensure_topics(bootstrap, list(RAW_TOPICS.values()))
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "compression.type": "lz4",
                "linger.ms": linger_ms,
                "batch.size": 1_000_000,
                "queue.buffering.max.messages": 500_000,
            },
            logger=log,  # librdkafka's own lines (retries while a broker starts) as log records
        )
        self._flush_timeout_s = flush_timeout_s
        self.sent: Counter[str] = Counter()
        self.failures: list[str] = []

    def send(self, event: Crossing) -> None:
        topic = RAW_TOPICS[event.kind].name
        value, key = event.to_json(), event.port_code.encode()
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=self._delivered)
                break
            except BufferError:  # local queue full: let librdkafka send, then retry
                self._producer.poll(0.05)
        self.sent[topic] += 1

    def send_all(self, events: Iterable[Crossing]) -> None:
        for count, event in enumerate(events, 1):
            self.send(event)
            if count % 10_000 == 0:
                self._producer.poll(0)

    def close(self) -> None:
        """Wait until every record is acknowledged; raise if any was not."""
        unsent = self._producer.flush(self._flush_timeout_s)
        if unsent:
            raise ProduceError(f"{unsent} records still unacknowledged after {self._flush_timeout_s:.0f} s")
        if self.failures:
            raise ProduceError(f"{len(self.failures)} records not delivered, first: {self.failures[0]}")

    def __enter__(self) -> CrossingProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self.failures.append(f"{message.topic()}[{message.partition()}] key {message.key()!r}: {error}")
