"""Reads topics in a consumer group, committing only what its caller says is done.

The consumer is librdkafka's (confluent-kafka), read_committed, without auto-commit. It replaced
kafka-python's, whose heartbeats and rebalances run in the polling Python thread: starved of
CPU, such a consumer was dropped from its group and then spun in its coordinator loop for good
(dpkp/kafka-python #3121). librdkafka heartbeats from threads of its own, and a poll returns
within its timeout.

Callbacks run inside `poll`, on the caller's thread: a revocation reaches `on_revoke` before
any record read under the new assignment, and the new assignment reads on from the committed
offsets, so a caller that drops its uncommitted work in `on_revoke` loses nothing.

Where each partition stands is known from librdkafka's end-of-partition events: offsets taken
by transaction markers are never returned as records, so "last record + 1" stays short of the
end of a topic written in transactions (the job's output), and only the end event says a
partition is read to its end.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from confluent_kafka import OFFSET_INVALID, Consumer, KafkaError, KafkaException, Message, TopicPartition
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from connectors.retry import Stopped

log = logging.getLogger(__name__)

Partition = tuple[str, int]

# a commit failing for these (broker or coordinator away) is worth retrying; others (the group
# rebalanced, this member was removed) are not: the partitions' new owner reads from the commits
RETRIED_COMMIT_ERRORS = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._TIMED_OUT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._WAIT_COORD,
        KafkaError.REQUEST_TIMED_OUT,
        KafkaError.NETWORK_EXCEPTION,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
    }
)


class CommitRetriable(Exception):
    """A commit that failed while the broker or the group coordinator was away."""


class CommitRefused(Exception):
    """A commit the group refused: it rebalanced, or this member is no longer in it."""


@dataclass(frozen=True)
class Record:
    """One record: where it is, and its value (None for a tombstone)."""

    topic: str
    partition: int
    offset: int
    value: bytes | None

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


class GroupReader:
    """One consumer for the whole run of a loader or a dispatcher.

    `on_revoke(partitions)` is called (inside `poll`) before partitions go to another member or
    are read again from their commits."""

    def __init__(
        self,
        bootstrap: str,
        group_id: str,
        client_id: str,
        topics: list[str],
        on_revoke: Callable[[list[Partition]], None] = lambda partitions: None,
        **config: object,
    ) -> None:
        self.topics = topics
        self.on_revoke = on_revoke
        self._at_end: set[Partition] = set()
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group_id,
                "client.id": client_id,
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,
                # a member killed without leaving the group holds its partitions this long (default 45 s)
                "session.timeout.ms": 6000,
                "heartbeat.interval.ms": 1000,
                **config,
            },
            logger=log,
        )

    def subscribe(self, wait_for_topics_s: float = 30.0) -> None:
        """Subscribe once the broker knows every topic (else the first assignment may miss one)."""
        deadline = time.monotonic() + wait_for_topics_s
        while missing := self._missing_topics():
            if time.monotonic() > deadline:
                raise KafkaException(
                    KafkaError(
                        KafkaError.UNKNOWN_TOPIC_OR_PART,
                        f"topics not found after {wait_for_topics_s:.0f} s: {', '.join(missing)}",
                    )
                )
            time.sleep(0.5)
        self.consumer.subscribe(self.topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked)

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        """Up to `max_records` records, waiting at most `timeout_s` for the first one."""
        records: list[Record] = []
        wait = timeout_s
        while len(records) < max_records:
            message = self.consumer.poll(wait)
            if message is None:
                break
            wait = 0
            if self._is_event(message):
                continue
            partition = (message.topic(), message.partition())
            self._at_end.discard(partition)
            records.append(Record(partition[0], partition[1], message.offset(), message.value()))
        return records

    def commit(self, offsets: Mapping[Partition, int]) -> None:
        """Commit the next offsets to read; CommitRetriable or CommitRefused when it fails."""
        try:
            results = self.consumer.commit(
                offsets=[TopicPartition(topic, partition, offset) for (topic, partition), offset in offsets.items()],
                asynchronous=False,
            )
        except KafkaException as exception:
            raise self._commit_error(exception.args[0]) from exception
        for result in results or []:
            if result.error is not None:
                raise self._commit_error(result.error)

    def rewind(self, partition: Partition, offset: int) -> None:
        """Read `partition` again from `offset`, if it is still assigned here (else its next
        owner reads it from its commit)."""
        try:
            self.consumer.seek(TopicPartition(*partition, offset))
        except KafkaException as error:
            log.info("%s[%d] not rewound to %d: %s", *partition, offset, error)

    def assignment(self) -> list[Partition]:
        return [(tp.topic, tp.partition) for tp in self.consumer.assignment()]

    def at_end(self) -> bool:
        """Every assigned partition read to its end (its last stable offset)."""
        assigned = self.assignment()
        return bool(assigned) and all(partition in self._at_end for partition in assigned)

    def lag(self) -> dict[str, int] | None:
        """Records not read yet, per topic, over the assigned partitions; None while nothing is
        assigned (a rebalance), KafkaException while the broker is away. A partition read to its
        end counts 0, whatever markers end it."""
        assigned = self.assignment()
        if not assigned:
            return None
        lag = {topic: 0 for topic in self.topics}
        behind = [
            TopicPartition(topic, partition) for topic, partition in assigned if (topic, partition) not in self._at_end
        ]
        if not behind:
            return lag
        positions = {(tp.topic, tp.partition): tp.offset for tp in self.consumer.position(behind)}
        unread = [tp for tp in behind if positions[tp.topic, tp.partition] == OFFSET_INVALID]
        if unread:
            for tp in self.consumer.committed(unread, timeout=10):
                positions[tp.topic, tp.partition] = tp.offset
        for tp in behind:
            # the offsets of the last fetch response; asked from the broker before the first
            low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if high < 0:
                low, high = self.consumer.get_watermark_offsets(tp, timeout=10, cached=False)
            position = positions[tp.topic, tp.partition]
            lag[tp.topic] += max(0, high - (low if position < 0 else position))
        return lag

    def close(self) -> None:
        """Leave the group (committing nothing)."""
        self.consumer.close()

    def _missing_topics(self) -> list[str]:
        try:
            known = self.consumer.list_topics(timeout=5).topics
        except KafkaException:
            return list(self.topics)
        return [
            topic
            for topic in self.topics
            if topic not in known or known[topic].error is not None or not known[topic].partitions
        ]

    def _is_event(self, message: Message) -> bool:
        """True for the end of a partition and for errors (logged; librdkafka retries them)."""
        error = message.error()
        if error is None:
            return False
        if error.code() == KafkaError._PARTITION_EOF:
            self._at_end.add((message.topic(), message.partition()))
        elif error.fatal():
            raise KafkaException(error)
        else:
            log.warning("consumer: %s", error)
        return True

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._at_end.difference_update((tp.topic, tp.partition) for tp in partitions)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = [(tp.topic, tp.partition) for tp in partitions]
        self._at_end.difference_update(revoked)
        if revoked:
            self.on_revoke(revoked)

    @staticmethod
    def _commit_error(error: KafkaError) -> Exception:
        kind = CommitRetriable if error.code() in RETRIED_COMMIT_ERRORS or error.retriable() else CommitRefused
        return kind(error.str())


@dataclass
class ConsumerStats:
    """The figures every consume loop keeps: subclasses add their own."""

    started_at: float = field(default_factory=time.monotonic)
    tombstones: int = 0
    rejected: int = 0  # records that are not messages of their topic, logged with their coordinates
    commits: int = 0
    lag: dict[str, int] = field(default_factory=dict)  # records not read yet, per topic
    read_per_topic: Counter = field(default_factory=Counter)  # records read (tombstones and rejected too)

    @property
    def total_lag(self) -> int:
        return sum(self.lag.values())

    @property
    def lag_text(self) -> str:
        """The total lag for a log line; '?' until partitions were assigned and measured (a
        reader of the log must not take a member still joining its group for caught up)."""
        return str(self.total_lag) if self.lag else "?"

    def as_dict(self) -> dict[str, Any]:
        """The `--json` output: every field but `started_at`, counters as sorted dicts."""
        values = {item.name: getattr(self, item.name) for item in fields(self) if item.name != "started_at"}
        data = {
            name: dict(sorted(value.items())) if isinstance(value, dict) else value for name, value in values.items()
        }
        data["total_lag"] = self.total_lag
        data["elapsed_s"] = round(time.monotonic() - self.started_at, 3)
        return data


class _LoopCollector:
    """The figures of a loop's stats, read at each scrape."""

    def __init__(self, loop: ConsumeLoop) -> None:
        self.loop = loop

    def collect(self) -> Iterable[Metric]:
        return self.loop.metric_families()


def labelled(family: Metric, values: Mapping[str, float]) -> Metric:
    """`family` with one sample per (label value, value) of `values`."""
    for label, value in sorted(dict(values).items()):
        family.add_metric([label], value)
    return family


class ConsumeLoop(ABC):
    """The run of one member of a consumer group (the loader, the alert dispatcher): poll, hand
    each record to `take`, `tick` after each poll, log the stats every `stats_interval_s`; on a
    stop (or, `once`, when caught up) `drain`; whatever happens `finish`, read the lag and close
    the consumer. Subclasses write (quix-streams' `BatchingSink`); they commit what they wrote.

    Its figures are Prometheus metrics in a registry of its own (`registry`), named
    `<metrics_prefix>_...`: `records_read_total{topic}` and `consumer_lag{topic}` here,
    subclasses add theirs in `metric_families`. With a `metrics_port` (0: a free one) the run
    serves them over HTTP (`/metrics`) from its start to its end; `metrics_port` is then the port."""

    metrics_prefix = "crossings_consumer"
    lag_interval_s = 5.0  # the lag is read at least this often (for the consumer_lag gauge)

    def __init__(
        self,
        reader: GroupReader,
        stats: ConsumerStats,
        stop: threading.Event,
        stats_interval_s: float,
        metrics_port: int | None = None,
    ) -> None:
        self.reader, self.stats, self.stop, self.stats_interval_s = reader, stats, stop, stats_interval_s
        self.log = logging.getLogger(type(self).__module__)  # the lines name the loader or the dispatcher
        self.metrics_port = metrics_port
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_LoopCollector(self))
        self._exporter: Any = None

    def run(self, once: bool = False) -> ConsumerStats:
        """Consume until stopped; `once`: until every assigned partition is read to its end and
        everything read is written."""
        self.serve_metrics()
        try:
            self._run(once)
        finally:
            self.stop_metrics()
        return self.stats

    def _run(self, once: bool) -> None:
        self.started()
        last_report = last_lag = time.monotonic()
        try:
            while not self.stop.is_set():
                records = self.poll()
                for record in records:
                    self.stats.read_per_topic[record.topic] += 1
                    self.take(record)
                self.tick()
                if once and not records and self.caught_up():
                    break
                now = time.monotonic()
                if now - last_report >= self.stats_interval_s:
                    self.update_lag()
                    self.log.info(self.stats_line())
                    last_report = last_lag = time.monotonic()
                elif now - last_lag >= self.lag_interval_s:
                    self.update_lag()
                    last_lag = time.monotonic()
            self.drain()
        except Stopped as stopped:
            self.log.warning("%s", stopped)
        finally:
            try:
                self.finish()
            finally:
                self.update_lag()
                self.reader.close()

    def serve_metrics(self) -> None:
        """The HTTP exporter of `registry` on `metrics_port` (none without one), its port logged.
        A port taken (another loader on this host) is logged, and the run goes on unexported."""
        if self.metrics_port is None or self._exporter is not None:
            return
        try:
            server, thread = start_http_server(self.metrics_port, registry=self.registry)
        except OSError as error:
            self.log.warning("metrics not exported: cannot listen on port %d: %s", self.metrics_port, error.strerror)
            return
        self._exporter = server, thread
        self.metrics_port = server.server_port
        self.log.info("metrics on port %d (/metrics)", self.metrics_port)

    def stop_metrics(self) -> None:
        if self._exporter is None:
            return
        server, thread = self._exporter
        self._exporter = None
        server.shutdown()
        server.server_close()
        thread.join(5)

    def metric_families(self) -> list[Metric]:
        """The metrics of the stats at a scrape; subclasses add theirs."""
        prefix = self.metrics_prefix
        return [
            labelled(
                CounterMetricFamily(f"{prefix}_records_read", "records read, per topic", labels=["topic"]),
                self.stats.read_per_topic,
            ),
            labelled(
                GaugeMetricFamily(f"{prefix}_consumer_lag", "records not read yet, per topic", labels=["topic"]),
                self.stats.lag,
            ),
        ]

    def started(self) -> None:
        """Before the first poll."""

    @abstractmethod
    def poll(self) -> list[Record]:
        """The next records."""

    @abstractmethod
    def take(self, record: Record) -> None:
        """One record read: its message, or a tombstone, or a rejection."""

    def tick(self) -> None:
        """After each poll: write and commit what is due."""

    def caught_up(self) -> bool:
        """Every assigned partition read to its end and written (for `once`)."""
        return self.reader.at_end() and self.update_lag() == 0

    def drain(self) -> None:
        """Stopped: write what was read and can still be written."""

    def finish(self) -> None:
        """The end of the run, also on an error."""

    @abstractmethod
    def stats_line(self) -> str:
        """The stats as one log line."""

    def update_lag(self) -> int:
        """The lag of the assigned partitions into the stats; while none are assigned (a
        rebalance) or the broker is away, the last one seen."""
        try:
            lag = self.reader.lag()
        except KafkaException as error:
            self.log.warning("cannot read the end offsets: %s", error)
            lag = None
        if lag is not None:
            self.stats.lag = lag
        return self.stats.total_lag
