"""The loader: the jobs' output topics into their ClickHouse tables, at least once.

One consumer group (`GroupReader`: read_committed, no auto-commit) reads the output topics of
the crossings job and the forecast job; each topic feeds one table, and each table has one
batch (`TableBatch`) flushed when it holds `batch_rows` rows or is `batch_wait_ms` old. A flush
inserts the batch through the one `Warehouse` of the run, retrying with capped exponential
backoff while the insert fails (the batch is never dropped), and only then commits the offsets
of the records it covers. A crash between the insert and the commit redelivers those records:
the tables are ReplacingMergeTrees whose sort key (or `version` = Kafka offset) makes the
second copy collapse, so counts read with FINAL / uniqExact stay exact. Output topics that do
not exist yet (a job not started) are created first, so the loader can wait for them.

A batch ClickHouse refuses for good (`RefusedError`: a bad value, a type the table does not
take, too many partitions in one insert) is tried `refused_tries` times, then split in halves:
each half it takes is inserted, each it refuses is split again, down to the single rows it
refuses. Each of those is logged and written to `load_rejects` (table, topic, partition,
offset, ClickHouse's message, the row clipped) before the batch's offsets are committed, so no
offset is committed past a row that is neither inserted nor recorded. Other errors (the
connection, a timeout) are retried for ever, in the split as before it.

Upsert tombstones (value None) are skipped and counted; a record that cannot be converted to
a row (bad JSON, a missing field, a malformed timestamp) is logged with its coordinates and
counted as `rejected`, and its offset is committed with the rest.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson
from confluent_kafka import KafkaException
from kafka.errors import KafkaError
from prometheus_client import Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from connectors.clickhouse.base import RefusedError, Warehouse, WarehouseError
from connectors.clickhouse.settings import LoaderSettings
from connectors.kafka.consumer import (
    CommitRefused,
    CommitRetriable,
    ConsumeLoop,
    ConsumerStats,
    GroupReader,
    Partition,
    Record,
    labelled,
)
from connectors.kafka.topics import (
    ALERTS,
    CLEAN,
    CLEARANCE,
    DEAD_LETTERS,
    FORECAST,
    FORECAST_JOB_OUTPUTS,
    JOB_OUTPUTS,
    PIPELINE_COUNTS,
    THROUGHPUT,
    TopicSpec,
    ensure_topics,
)
from connectors.retry import Backoff, retry
from schemas.outputs import OutputMessage

log = logging.getLogger(__name__)

REJECTS_TABLE = "load_rejects"  # sql/clickhouse/012_load_rejects.sql
REJECT_COLUMNS = ("table_name", "topic", "partition", "offset", "error", "row_json")
REJECT_CLIP = 2000  # characters kept of a refused row's JSON and of ClickHouse's message
_ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z")


class RowError(ValueError):
    """A record that cannot become a row of its table."""


def timestamp(text: str) -> str:
    """ISO-8601 UTC ('2024-05-01T08:00:00.123Z') as ClickHouse's DateTime/DateTime64 text
    ('2024-05-01 08:00:00.123'; extra fraction digits are truncated by DateTime64(3))."""
    if not isinstance(text, str) or not _ISO_UTC.fullmatch(text):
        raise RowError(f"not an ISO-8601 UTC timestamp: {text!r}")
    return f"{text[:10]} {text[11:-1]}"


def _number(value: Any, kind: type) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RowError(f"not a number: {value!r}")
    return kind(value)


def _optional_number(value: Any) -> float | None:
    return None if value is None else _number(value, float)


# Each converter: (decoded JSON value, partition, offset) -> the row, in its table's column order.

CROSSING_COLUMNS = (
    "event_id",
    "schema_version",
    "kind",
    "port_code",
    "direction",
    "lane_id",
    "channel_type",
    "inspection_mode",
    "queued_at",
    "inspection_started_at",
    "released_at",
    "subject_ref",
    "category",
    "document_type",
    "vehicle_ref",
    "health_check",
    "plate_ref",
    "cargo_type",
    "declared_weight_kg",
    "customs_decision",
    "kafka_partition",
    "kafka_offset",
)


def crossing_row(event: dict, partition: int, offset: int) -> tuple:
    get = event.get
    return (
        event["event_id"],
        _number(event["schema_version"], int),
        event["kind"],
        event["port_code"],
        event["direction"],
        event["lane_id"],
        event["channel_type"],
        event["inspection_mode"],
        timestamp(event["queued_at"]),
        timestamp(event["inspection_started_at"]),
        timestamp(event["released_at"]),
        event["subject_ref"],
        get("category"),
        get("document_type"),
        get("vehicle_ref"),
        get("health_check"),
        get("plate_ref"),
        get("cargo_type"),
        _optional_number(get("declared_weight_kg")),
        get("customs_decision"),
        partition,
        offset,
    )


def message_columns(message: type[OutputMessage]) -> tuple[str, ...]:
    """The table columns of an output message: its fields, then `version` (the Kafka offset)
    if its table keeps the newest upsert."""
    return (*message.model_fields, *(("version",) if message.versioned else ()))


def message_row(message: type[OutputMessage]) -> Callable[[dict, int, int], tuple]:
    """The converter of an output topic's records: validated by its model, in
    `message_columns` order, times as ClickHouse text."""

    def row(value: dict, partition: int, offset: int) -> tuple:
        fields = message.model_validate(value)
        values = tuple(_column_value(getattr(fields, name)) for name in message.model_fields)
        return (*values, offset) if message.versioned else values

    return row


def _column_value(value: Any) -> Any:
    if isinstance(value, datetime):
        text = value.strftime("%Y-%m-%d %H:%M:%S")
        return f"{text}.{value.microsecond // 1000:03d}" if value.microsecond else text
    if isinstance(value, UUID):
        return str(value)
    return value


def reject_row(target: Target, partition: int, offset: int, row: tuple, error: str) -> tuple:
    """The `load_rejects` row (REJECT_COLUMNS) of a `row` of `target` that ClickHouse refused
    with `error`: the row's values as JSON (ints beyond 64 bits too), both clipped."""
    values = json.dumps(dict(zip(target.columns, row)), default=str, ensure_ascii=False)
    return target.table, target.topic, partition, offset, error[:REJECT_CLIP], values[:REJECT_CLIP]


# the event-time columns of each table: the newest value loaded is its freshness (a forecast's
# is the minute it was issued, not the future minute it is for)
EVENT_TIME_COLUMNS = (
    "released_at",
    "window_end",
    "received_minute",
    "started_at",
    "ended_at",
    "detected_at",
    "issued_at",
)


@dataclass(frozen=True)
class Target:
    """Where one topic's records go: a table, its columns, and the row of one record."""

    topic: str
    table: str
    columns: Sequence[str]
    row: Callable[[dict, int, int], tuple]

    def newest(self, rows: Sequence[tuple]) -> float | None:
        """The newest event time (Unix seconds) among `rows`, over its EVENT_TIME_COLUMNS; None
        when it has none."""
        places = [self.columns.index(name) for name in EVENT_TIME_COLUMNS if name in self.columns]
        times = [row[place] for row in rows for place in places if isinstance(row[place], str)]
        if not times:
            return None
        return datetime.fromisoformat(max(times)).replace(tzinfo=UTC).timestamp()

    def convert(self, value: bytes, partition: int, offset: int) -> tuple:
        """The row of one record's value; RowError when it cannot be one."""
        try:
            decoded = orjson.loads(value)
            if not isinstance(decoded, dict):
                raise RowError(f"not a JSON object: {value[:80]!r}")
            return self.row(decoded, partition, offset)
        except RowError:
            raise
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as error:
            raise RowError(f"{type(error).__name__}: {error}") from error


def message_target(spec: TopicSpec, table: str) -> Target:
    return Target(spec.name, table, message_columns(spec.message), message_row(spec.message))


# every output topic of the jobs, by name
OUTPUT_TOPICS = {spec.name: spec for spec in (*JOB_OUTPUTS, *FORECAST_JOB_OUTPUTS)}
TARGETS = {
    target.topic: target
    for target in (
        Target(CLEAN.name, "crossings", CROSSING_COLUMNS, crossing_row),
        message_target(THROUGHPUT, "throughput_windows"),
        message_target(CLEARANCE, "clearance_windows"),
        message_target(PIPELINE_COUNTS, "pipeline_counts"),
        message_target(ALERTS, "alerts"),
        message_target(DEAD_LETTERS, "dead_letters"),
        message_target(FORECAST, "clearance_forecast"),
    )
}


@dataclass
class LoaderStats(ConsumerStats):
    """What the loader has done so far; `as_dict()` is the `--json` output."""

    rows: int = 0
    rows_per_table: Counter = field(default_factory=Counter)
    refused: int = 0
    inserts: int = 0
    failed_inserts: int = 0
    last_insert_at: str | None = None
    unwritten: int = 0  # rows read and not inserted yet (a batch filling, or an insert retried)
    rejected_per_table: Counter = field(default_factory=Counter)  # rejected or refused (in load_rejects)
    newest_per_table: dict[str, float] = field(default_factory=dict)  # newest event time loaded, Unix s

    @property
    def lag_text(self) -> str:
        """Records not loaded yet: not read, or read and not inserted ('?' until assigned)."""
        return str(self.total_lag + self.unwritten) if self.lag else "?"

    @property
    def rows_per_s(self) -> float:
        return self.rows / max(time.monotonic() - self.started_at, 1e-9)

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "rows_per_s": round(self.rows_per_s, 1)}

    def line(self) -> str:
        tables = " ".join(f"{table}={count}" for table, count in sorted(self.rows_per_table.items()))
        return (
            f"loaded {self.rows} rows ({self.rows_per_s:,.0f} rows/s) {tables}; lag {self.lag_text}; "
            f"tombstones {self.tombstones}; rejected {self.rejected}; refused {self.refused} (in load_rejects); "
            f"failed inserts {self.failed_inserts}; "
            f"last insert {self.last_insert_at or 'never'}"
        )


class BatchingSink:
    """Accumulates rows per table and writes a table's batch when it is full or old enough;
    the batch is cleared (in `finally`) only once its write succeeded. Subclasses write."""

    def __init__(self, batch_rows: int, batch_wait_s: float) -> None:
        self.batch_rows = batch_rows
        self.batch_wait_s = batch_wait_s
        self._batches: dict[str, TableBatch] = {}

    def batch(self, target: Target) -> TableBatch:
        batch = self._batches.get(target.table)
        if batch is None:
            batch = self._batches[target.table] = TableBatch(target)
        return batch

    def due(self, now: float) -> list[TableBatch]:
        return [
            batch
            for batch in self._batches.values()
            if batch.offsets and (len(batch.rows) >= self.batch_rows or now - batch.opened_at >= self.batch_wait_s)
        ]

    def pending(self) -> list[TableBatch]:
        return [batch for batch in self._batches.values() if batch.offsets]

    def next_deadline(self) -> float | None:
        opened = [batch.opened_at for batch in self.pending()]
        return min(opened) + self.batch_wait_s if opened else None

    def flush(self, batch: TableBatch) -> None:
        written = False
        try:
            if batch.rows:
                self.write(batch)
            written = True
            self.written(batch)
        finally:
            if written:
                batch.clear()

    def write(self, batch: TableBatch) -> None:
        raise NotImplementedError

    def written(self, batch: TableBatch) -> None:
        """After a successful write (and before the batch is cleared)."""


@dataclass
class TableBatch:
    """The rows of one table not yet inserted, the (partition, offset) of each row's record,
    and the offsets (next to read) they cover."""

    target: Target
    rows: list[tuple] = field(default_factory=list)
    sources: list[tuple[int, int]] = field(default_factory=list)
    offsets: dict[Partition, int] = field(default_factory=dict)
    opened_at: float = 0.0

    def add(self, row: tuple, partition: int, offset: int) -> None:
        self.rows.append(row)
        self.sources.append((partition, offset))

    def covers(self, partition: Partition, offset: int) -> None:
        if not self.offsets:
            self.opened_at = time.monotonic()
        self.offsets[partition] = offset + 1

    def clear(self) -> None:
        self.rows = []
        self.sources = []
        self.offsets = {}


class WarehouseSink(BatchingSink):
    """Writes batches with `Warehouse.insert`, retrying with capped exponential backoff; a
    batch refused for good is split, and the rows refused go to `load_rejects`."""

    def __init__(
        self,
        warehouse: Warehouse,
        settings: LoaderSettings,
        stats: LoaderStats,
        stop: threading.Event,
        commit: Callable[[TableBatch], None],
        insert_seconds: Histogram | None = None,
    ) -> None:
        super().__init__(settings.batch_rows, settings.batch_wait_ms / 1000)
        self.insert_seconds = insert_seconds  # the time of each insert that succeeded, per table
        self.warehouse = warehouse
        self.commit = commit
        self.backoff = Backoff.from_ms(settings.backoff_initial_ms, settings.backoff_max_ms)
        self.refused_tries = settings.refused_tries
        self.stats = stats
        self.stop = stop

    def write(self, batch: TableBatch) -> None:
        target = batch.target
        refusal = self._insert(target, batch.rows, self.refused_tries)
        rejects = [] if refusal is None else self._split(target, list(zip(batch.rows, batch.sources)), refusal)
        if rejects:
            self._record(target, rejects)
        inserted = len(batch.rows) - len(rejects)
        self.stats.inserts += 1
        self.stats.rows += inserted
        self.stats.rows_per_table[target.table] += inserted
        if inserted:
            refused = {source for source, _, _ in rejects}
            newest = target.newest([row for row, source in zip(batch.rows, batch.sources) if source not in refused])
            if newest is not None:
                self.stats.newest_per_table[target.table] = max(
                    newest, self.stats.newest_per_table.get(target.table, newest)
                )
        self.stats.last_insert_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def written(self, batch: TableBatch) -> None:
        self.commit(batch)

    def _insert(self, target: Target, rows: list[tuple], tries: int) -> RefusedError | None:
        """Insert `rows`: None once inserted, or ClickHouse's refusal when it refused them
        `tries` times. Other errors are retried until the insert passes or a stop."""
        refusals = 0

        def attempt() -> RefusedError | None:
            nonlocal refusals
            began = time.perf_counter()
            try:
                self.warehouse.insert(target.table, target.columns, rows)
                if self.insert_seconds is not None:
                    self.insert_seconds.labels(target.table).observe(time.perf_counter() - began)
            except RefusedError as error:
                refusals += 1
                if refusals < tries:
                    raise
                self.stats.failed_inserts += 1
                log.warning("ClickHouse refused %d rows of %s %d times: %s", len(rows), target.table, refusals, error)
                return error
            return None

        def failed(error: BaseException, delay: float) -> None:
            self.stats.failed_inserts += 1
            log.warning(
                "insert of %d rows into %s failed (retrying in %.2f s): %s", len(rows), target.table, delay, error
            )

        return retry(
            attempt,
            WarehouseError,
            self.backoff,
            self.stop,
            failed,
            lambda: f"stopped with {len(rows)} rows for {target.table} not inserted",
        )

    def _split(
        self, target: Target, rows: list[tuple[tuple, tuple[int, int]]], refusal: RefusedError
    ) -> list[tuple[tuple[int, int], tuple, str]]:
        """`rows` (with their sources), whose insert was refused, in halves: each half that
        ClickHouse takes is inserted, each it refuses is split again. Returns the single rows
        it refuses: (source, row, its message)."""
        if len(rows) == 1:
            row, source = rows[0]
            return [(source, row, str(refusal))]
        middle = len(rows) // 2
        rejects = []
        for half in (rows[:middle], rows[middle:]):
            refused = self._insert(target, [row for row, _ in half], tries=1)
            if refused is not None:
                rejects += self._split(target, half, refused)
        return rejects

    def _record(self, target: Target, rejects: list[tuple[tuple[int, int], tuple, str]]) -> None:
        """Log each refused row and write it to `load_rejects`, retrying whatever fails until
        it is written (or a stop): only then may the batch's offsets be committed."""
        records = []
        for (partition, offset), row, error in rejects:
            log.error(
                "ClickHouse refused a row of %s (topic %s partition %d offset %d), recorded in %s: %s",
                target.table,
                target.topic,
                partition,
                offset,
                REJECTS_TABLE,
                error[:REJECT_CLIP],
            )
            records.append(reject_row(target, partition, offset, row, error))

        def failed(error: BaseException, delay: float) -> None:
            log.warning(
                "recording %d refused rows in %s failed (retrying in %.2f s): %s",
                len(records),
                REJECTS_TABLE,
                delay,
                error,
            )

        retry(
            lambda: self.warehouse.insert(REJECTS_TABLE, REJECT_COLUMNS, records),
            WarehouseError,
            self.backoff,
            self.stop,
            failed,
            lambda: f"stopped with {len(records)} refused rows of {target.table} not recorded",
        )
        self.stats.refused += len(records)
        self.stats.rejected_per_table[target.table] += len(records)


class Loader(ConsumeLoop):
    """Consumes the job's outputs into the warehouse until `stop` is set (or, with `once`,
    until it has caught up). One warehouse and one consumer for the whole run; `reader` is
    injectable for tests. Metrics (`crossings_loader_*`, served on `metrics_port` during the
    run): records read and consumer lag per topic; rows loaded, insert seconds, rejected rows
    and freshness (now minus the newest event time loaded) per table."""

    metrics_prefix = "crossings_loader"

    def __init__(
        self,
        bootstrap: str,
        warehouse: Warehouse,
        settings: LoaderSettings,
        targets: Mapping[str, Target] = TARGETS,
        stop: threading.Event | None = None,
        stats_interval_s: float = 10.0,
        metrics_port: int | None = None,
        reader: GroupReader | None = None,
    ) -> None:
        self.settings = settings
        self.targets = targets
        subscribe = reader is None
        reader = reader or GroupReader(
            bootstrap,
            self.settings.group_id,
            "crossings-loader",
            list(targets),
            on_revoke=self._drop_uncommitted,
            **{"max.partition.fetch.bytes": 16 << 20, "max.poll.interval.ms": self.settings.max_poll_interval_s * 1000},
        )
        super().__init__(reader, LoaderStats(), stop or threading.Event(), stats_interval_s, metrics_port)
        self.insert_seconds = Histogram(
            f"{self.metrics_prefix}_insert_seconds",
            "seconds of each insert into ClickHouse that succeeded, per table",
            ["table"],
            registry=self.registry,
        )
        self.sink = WarehouseSink(warehouse, self.settings, self.stats, self.stop, self._commit, self.insert_seconds)
        if subscribe:
            try:
                # a job not started yet has not created its outputs: the loader waits for them
                ensure_topics(bootstrap, [OUTPUT_TOPICS[topic] for topic in targets if topic in OUTPUT_TOPICS])
                self.reader.subscribe()
            except (KafkaException, KafkaError) as error:
                self.reader.close()
                raise WarehouseError(f"cannot read the job's outputs: {error}") from error

    def metric_families(self) -> list[Metric]:
        prefix, stats, now = self.metrics_prefix, self.stats, time.time()
        return [
            *super().metric_families(),
            labelled(
                CounterMetricFamily(f"{prefix}_rows_loaded", "rows inserted, per table", labels=["table"]),
                stats.rows_per_table,
            ),
            labelled(
                CounterMetricFamily(
                    f"{prefix}_rejected_rows",
                    "rows not loaded, per table: not a row of it, or refused by ClickHouse (in load_rejects)",
                    labels=["table"],
                ),
                stats.rejected_per_table,
            ),
            labelled(
                GaugeMetricFamily(
                    f"{prefix}_freshness_seconds",
                    "now minus the newest event time loaded, per table",
                    labels=["table"],
                ),
                {table: now - newest for table, newest in dict(stats.newest_per_table).items()},
            ),
        ]

    def poll(self) -> list[Record]:
        deadline = self.sink.next_deadline()
        wait_s = self.settings.batch_wait_ms / 1000 if deadline is None else deadline - time.monotonic()
        return self.reader.poll(self.settings.batch_rows, max(0.0, min(wait_s, 0.5)))

    def take(self, record: Record) -> None:
        """Adds the record's row to its table's batch."""
        target = self.targets[record.topic]
        batch = self.sink.batch(target)
        batch.covers((record.topic, record.partition), record.offset)
        if record.value is None:
            self.stats.tombstones += 1
            return
        try:
            batch.add(target.convert(record.value, record.partition, record.offset), record.partition, record.offset)
        except RowError as error:
            self.stats.rejected += 1
            self.stats.rejected_per_table[target.table] += 1
            log.error("rejected %s: %s", record.where, error)

    def tick(self) -> None:
        for batch in self.sink.due(time.monotonic()):
            self.sink.flush(batch)

    def caught_up(self) -> bool:
        if not self.reader.at_end():
            return False
        self.drain()
        return self.update_lag() == 0

    def drain(self) -> None:
        for batch in self.sink.pending():
            self.sink.flush(batch)

    def stats_line(self) -> str:
        self.stats.unwritten = sum(len(batch.rows) for batch in self.sink.pending())
        return self.stats.line()

    def _drop_uncommitted(self, revoked: list[Partition]) -> None:
        """Partitions were revoked: drop every row not inserted yet. Whoever reads those
        partitions next (another loader, or this one) starts from their committed offsets,
        so nothing is lost and nothing committed twice."""
        dropped = sum(len(batch.rows) for batch in self.sink.pending())
        for batch in self.sink.pending():
            batch.clear()
        log.info("partitions were revoked: %d rows not inserted yet are read again from the committed offsets", dropped)

    def _commit(self, batch: TableBatch) -> None:
        """Commit what `batch` covers; while the broker is away, retried with the insert backoff.
        A commit the group refuses (it rebalanced) is left: the rows are inserted, and their
        next reader inserts them again, which the tables' keys collapse."""

        def failed(error: BaseException, delay: float) -> None:
            log.warning("offset commit failed (retrying in %.2f s): %s", delay, error)

        try:
            retry(
                lambda: self.reader.commit(batch.offsets),
                CommitRetriable,
                self.sink.backoff,
                self.stop,
                failed,
                lambda: f"stopped before the offsets of {batch.target.table} were committed",
            )
        except CommitRefused as error:
            log.warning(
                "offsets of %s not committed, the group rebalanced (read again from the last commit): %s",
                batch.target.table,
                error,
            )
            return
        self.stats.commits += 1
