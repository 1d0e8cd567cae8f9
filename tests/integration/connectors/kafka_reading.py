"""Reading back what a test produced: the records appended to topics since a snapshot."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition


def end_offsets(bootstrap: str, topics: list[str]) -> dict[TopicPartition, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        partitions = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        return consumer.end_offsets(partitions)
    finally:
        consumer.close()


def records_since(bootstrap: str, before: dict[TopicPartition, int], topics: list[str]) -> list:
    """Every record written to `topics` after the offsets in `before` (0 for new partitions)."""
    after = end_offsets(bootstrap, topics)
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, isolation_level="read_committed", enable_auto_commit=False, max_poll_records=5000
    )
    try:
        wanted = {tp: end for tp, end in after.items() if end > before.get(tp, 0)}
        consumer.assign(list(wanted))
        for tp in wanted:
            consumer.seek(tp, before.get(tp, 0))
        records = []
        while any(consumer.position(tp) < end for tp, end in wanted.items()):
            for tp, batch in consumer.poll(timeout_ms=2000).items():
                records.extend(r for r in batch if r.offset < wanted[tp])
        return records
    finally:
        consumer.close()
