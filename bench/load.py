"""`make bench-load`: clean events into chdb through the loader, as JSON.

- insert path: rows/s of `Warehouse.insert` into `crossings` (rows already converted), and of
  conversion (JSON -> row) plus insert;
- end to end: rows/s from a topic already holding the events until the loader has caught up;
- freshness: events produced at a steady rate while the loader runs; for each record, the time
  from its Kafka timestamp (CreateTime, set by the producer) to the return of the insert that
  holds it (chdb inserts are synchronous: the rows are queryable then), p50/p99.

Starts its own broker and chdb in temporary folders (both stopped and removed at the end), or
uses KAFKA_BOOTSTRAP_SERVERS for the broker.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from confluent_kafka import Producer

from bench import percentile
from bench.produce import rate, simulated
from connectors.clickhouse import Warehouse, open_warehouse
from connectors.clickhouse.loader import TARGETS, Loader, Target
from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.settings import ClickHouseSettings, LoaderSettings
from connectors.kafka.settings import KafkaSettings
from connectors.kafka.topics import CLEAN, TopicSpec, ensure_topics
from deploy.services import KafkaBroker

TARGET_ROWS_PER_S = 200_000
TARGET_FRESHNESS_P99_S = 2.0
CROSSINGS = TARGETS[CLEAN.name]


class InsertClock(Warehouse):
    """Notes when each crossing row (by Kafka partition and offset) became queryable."""

    def __init__(self, inner: Warehouse) -> None:
        self.inner = inner
        self.queryable_at: dict[tuple[int, int], float] = {}

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        rows = list(rows)
        count = self.inner.insert(table, columns, rows)
        now = time.time()
        where = (columns.index("kafka_partition"), columns.index("kafka_offset"))
        self.queryable_at.update(((row[where[0]], row[where[1]]), now) for row in rows)
        return count

    def query(self, sql, params=None):
        return self.inner.query(sql, params)

    def command(self, sql, params=None):
        self.inner.command(sql, params)

    def close(self) -> None:
        self.inner.close()


def bench_topic(bootstrap: str, name: str) -> dict[str, Target]:
    ensure_topics(bootstrap, [TopicSpec(name)])
    return {name: dataclasses.replace(CROSSINGS, topic=name)}


def produce(
    bootstrap: str,
    topic: str,
    values: list[bytes],
    per_s: float | None = None,
    sent: dict[tuple[int, int], float] | None = None,
) -> None:
    """Send `values` (paced at `per_s` when given); `sent` gets each record's CreateTime."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            "queue.buffering.max.messages": 500_000,
        }
    )

    def delivered(error, message) -> None:
        if error is None and sent is not None:
            sent[(message.partition(), message.offset())] = message.timestamp()[1] / 1000

    started = time.perf_counter()
    for count, value in enumerate(values):
        if per_s:
            ahead = started + count / per_s - time.perf_counter()
            if ahead > 0:
                producer.poll(ahead)
        while True:
            try:
                producer.produce(topic, value, b"HUANGGANG", on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        if count % 1000 == 0:
            producer.poll(0)
    if producer.flush(120):
        raise RuntimeError("records unacknowledged after 120 s")


def insert_path(warehouse: Warehouse, values: list[bytes], batch_rows: int) -> dict[str, float]:
    started = time.perf_counter()
    rows = [CROSSINGS.convert(value, 0, offset) for offset, value in enumerate(values)]
    convert_rate = rate(len(rows), started)
    started = time.perf_counter()
    for first in range(0, len(rows), batch_rows):
        warehouse.insert("crossings", CROSSINGS.columns, rows[first : first + batch_rows])
    insert_rate = rate(len(rows), started)
    both = round(len(rows) / (len(rows) / convert_rate + len(rows) / insert_rate))
    return {"convert": convert_rate, "insert": insert_rate, "convert_and_insert": both}


def end_to_end(bootstrap: str, warehouse: Warehouse, values: list[bytes], settings: LoaderSettings) -> dict:
    targets = bench_topic(bootstrap, "bench.load.e2e")
    produce(bootstrap, next(iter(targets)), values)
    started = time.perf_counter()
    stats = Loader(bootstrap, warehouse, settings, targets).run(once=True)
    return {"rows": stats.rows, "rows_per_s": rate(stats.rows, started), "inserts": stats.inserts}


def freshness(
    bootstrap: str, warehouse: Warehouse, values: list[bytes], per_s: float, settings: LoaderSettings
) -> dict:
    targets = bench_topic(bootstrap, "bench.load.fresh")
    clock = InsertClock(warehouse)
    stop = threading.Event()
    loader = Loader(bootstrap, clock, settings, targets, stop=stop)
    running = threading.Thread(target=loader.run, name="loader")
    running.start()
    sent: dict[tuple[int, int], float] = {}
    try:
        time.sleep(3)  # the loader joins its group before the clock starts
        produce(bootstrap, next(iter(targets)), values, per_s, sent)
        deadline = time.monotonic() + 60
        while len(clock.queryable_at) < len(values) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        running.join()
    delays = sorted(clock.queryable_at[key] - created for key, created in sent.items() if key in clock.queryable_at)
    if len(delays) < len(values):
        raise RuntimeError(f"only {len(delays)} of {len(values)} records became queryable within 60 s")
    return {
        "events": len(delays),
        "produce_rate_per_s": per_s,
        "batch_wait_ms": settings.batch_wait_ms,
        "p50_s": round(statistics.median(delays), 3),
        "p99_s": round(percentile(delays, 0.99), 3),
        "max_s": round(delays[-1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--fresh-events", type=int, default=50_000, help="events of the freshness run")
    parser.add_argument("--fresh-rate", type=float, default=10_000, help="their events/s")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    settings = LoaderSettings()

    with ExitStack() as stack:
        bootstrap = KafkaSettings().bootstrap_servers
        if not bootstrap:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-kafka-")))
            bootstrap = stack.enter_context(KafkaBroker(KafkaSettings(data_dir=data_dir))).bootstrap
        chdb_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-chdb-")))
        clickhouse = ClickHouseSettings(data_path=chdb_dir, url=None)
        warehouse = stack.enter_context(open_warehouse(clickhouse))
        migrate(warehouse, clickhouse)

        values = [event.to_json() for event in simulated(args.events, args.seed)]
        inserts = insert_path(warehouse, values, settings.batch_rows)
        e2e = end_to_end(bootstrap, warehouse, values, settings)
        fresh_values = [event.to_json() for event in simulated(args.fresh_events, args.seed + 1)]
        fresh = freshness(bootstrap, warehouse, fresh_values, args.fresh_rate, settings)

    print(
        json.dumps(
            {
                "benchmark": "load",
                "events": len(values),
                "mean_event_bytes": round(sum(map(len, values)) / len(values)),
                "batch_rows": settings.batch_rows,
                "insert_path_rows_per_s": inserts,
                "end_to_end_from_kafka": e2e,
                "freshness": fresh,
                "target_rows_per_s": TARGET_ROWS_PER_S,
                "target_freshness_p99_s": TARGET_FRESHNESS_P99_S,
                "meets_rows_target": inserts["insert"] >= TARGET_ROWS_PER_S,
                "meets_freshness_target": fresh["p99_s"] <= TARGET_FRESHNESS_P99_S,
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
