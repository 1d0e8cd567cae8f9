"""A batch ClickHouse refuses for good: tried `refused_tries` times, then split in halves down to
the rows it refuses, which are logged and recorded in `load_rejects` before the offsets are
committed; transient errors are retried, in the split as before it. Against a warehouse
double that refuses any insert holding a poison row."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from connectors.clickhouse.base import QueryResult, RefusedError, Warehouse, WarehouseError
from connectors.clickhouse.loader import REJECT_COLUMNS, REJECTS_TABLE, LoaderStats, Target, WarehouseSink
from connectors.clickhouse.settings import LoaderSettings
from connectors.retry import Stopped

THINGS = Target("things.topic", "things", ("id", "n"), lambda record, partition, offset: ())


class RefusingWarehouse(Warehouse):
    """Keeps inserted rows per table. An insert holding a row whose id is in `poison` is
    refused (RefusedError, nothing inserted); the calls numbered in `transient` (from 1) fail
    with a WarehouseError worth retrying; with `rejects_fail`, every insert into load_rejects
    does, and the stop is set after the third."""

    def __init__(
        self,
        poison: Iterable[str] = (),
        transient: Iterable[int] = (),
        rejects_fail: bool = False,
        stop: threading.Event | None = None,
    ) -> None:
        self.poison = set(poison)
        self.transient = set(transient)
        self.rejects_fail = rejects_fail
        self.stop = stop
        self.tables: dict[str, list[tuple]] = {}
        self.calls: list[tuple[str, int]] = []

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        rows = [tuple(row) for row in rows]
        self.calls.append((table, len(rows)))
        if len(self.calls) in self.transient:
            raise WarehouseError("Code: 210. Connection reset by peer")
        if table == REJECTS_TABLE and self.rejects_fail:
            if sum(name == REJECTS_TABLE for name, _ in self.calls) >= 3:
                self.stop.set()
            raise WarehouseError("Code: 241. Memory limit exceeded")
        poisoned = [row[0] for row in rows if row[0] in self.poison]
        if poisoned:
            raise RefusedError(f"Code: 376. Cannot parse uuid {poisoned[0]}")
        self.tables.setdefault(table, []).extend(rows)
        return len(rows)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        raise NotImplementedError

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


def flushed(
    warehouse: RefusingWarehouse,
    rows: int = 10,
    stop: threading.Event | None = None,
    tries: int = 3,
    committed: list[dict] | None = None,
) -> tuple[WarehouseSink, list[dict]]:
    """A sink over `warehouse` that flushed one batch of `rows` rows (ids id-0, id-1, ...;
    partition 4, offsets 100, 101, ...); and the offsets it committed (into `committed`)."""
    committed = [] if committed is None else committed
    settings = LoaderSettings(refused_tries=tries, backoff_initial_ms=1, backoff_max_ms=1)
    sink = WarehouseSink(
        warehouse,
        settings,
        LoaderStats(),
        stop or threading.Event(),
        lambda batch: committed.append(dict(batch.offsets)),
    )
    batch = sink.batch(THINGS)
    for index in range(rows):
        batch.covers((THINGS.topic, 4), 100 + index)
        batch.add((f"id-{index}", index), 4, 100 + index)
    sink.flush(batch)
    return sink, committed


def test_a_refused_batch_is_split_the_rest_inserted_and_each_refused_row_recorded(caplog):
    warehouse = RefusingWarehouse(poison={"id-3", "id-7"})
    with caplog.at_level(logging.ERROR):
        sink, committed = flushed(warehouse)

    assert warehouse.calls[:3] == [("things", 10)] * 3  # refused_tries, then the split
    assert sorted(warehouse.tables["things"]) == sorted((f"id-{i}", i) for i in range(10) if i not in (3, 7))
    rejects = [dict(zip(REJECT_COLUMNS, row)) for row in warehouse.tables[REJECTS_TABLE]]
    assert [(r["table_name"], r["topic"], r["partition"], r["offset"]) for r in rejects] == [
        ("things", "things.topic", 4, 103),
        ("things", "things.topic", 4, 107),
    ]
    assert (
        rejects[0]["error"] == "Code: 376. Cannot parse uuid id-3"
        and rejects[0]["row_json"] == '{"id": "id-3", "n": 3}'
    )
    assert committed == [{("things.topic", 4): 110}]  # past every row: inserted or recorded
    assert (sink.stats.rows, sink.stats.refused, sink.stats.rows_per_table["things"]) == (8, 2, 8)
    assert "things (topic things.topic partition 4 offset 107), recorded in load_rejects" in caplog.text


def test_every_row_refused_is_every_row_recorded():
    warehouse = RefusingWarehouse(poison={f"id-{i}" for i in range(5)})
    sink, committed = flushed(warehouse, rows=5, tries=1)
    assert "things" not in warehouse.tables
    assert [row[3] for row in warehouse.tables[REJECTS_TABLE]] == [100, 101, 102, 103, 104]
    assert committed == [{("things.topic", 4): 105}] and sink.stats.refused == 5


def test_transient_errors_are_retried_without_splitting():
    warehouse = RefusingWarehouse(transient={1, 2, 3, 4})
    sink, committed = flushed(warehouse, tries=2)
    assert warehouse.calls == [("things", 10)] * 5
    assert len(warehouse.tables["things"]) == 10 and REJECTS_TABLE not in warehouse.tables
    assert (sink.stats.failed_inserts, sink.stats.refused, len(committed)) == (4, 0, 1)


def test_transient_errors_inside_the_split_are_retried():
    warehouse = RefusingWarehouse(poison={"id-6"}, transient={4, 6, 7})  # the first halves' inserts, and more
    sink, committed = flushed(warehouse)
    assert sorted(row[1] for row in warehouse.tables["things"]) == [0, 1, 2, 3, 4, 5, 7, 8, 9]
    assert [row[3] for row in warehouse.tables[REJECTS_TABLE]] == [106]
    assert committed == [{("things.topic", 4): 110}]


def test_nothing_is_committed_while_the_refused_rows_cannot_be_recorded():
    stop = threading.Event()
    warehouse = RefusingWarehouse(poison={"id-2"}, rejects_fail=True, stop=stop)
    committed: list[dict] = []
    with pytest.raises(Stopped, match="refused rows of things not recorded"):
        flushed(warehouse, stop=stop, committed=committed)
    assert len(warehouse.tables["things"]) == 9 and REJECTS_TABLE not in warehouse.tables
    assert committed == []  # read again from the last commit: inserted again (collapsing), recorded then
