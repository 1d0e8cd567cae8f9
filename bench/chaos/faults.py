"""Faults of the warehouse, injected by the chaos suite and the loader's tests (never by
production code): a wrapper whose inserts fail on demand, or whose process dies right after
an insert, before the loader commits that batch's offsets."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connectors.clickhouse.base import QueryResult, Warehouse, WarehouseError


class FaultyWarehouse(Warehouse):
    """Wraps a warehouse: `insert` raises `WarehouseError` (without inserting) for the next
    `fail_next(n)` calls or until `fail_for(seconds)` ends; after `crash_after(n)` the process
    SIGKILLs itself right after its n-th successful insert (inserted, not committed)."""

    def __init__(self, inner: Warehouse) -> None:
        self.inner = inner
        self.failures_left = 0
        self.failing_until = 0.0
        self.failed = 0
        self.inserts = 0
        self.crash_after_inserts = 0

    def fail_next(self, calls: int) -> FaultyWarehouse:
        self.failures_left = calls
        return self

    def fail_for(self, seconds: float) -> FaultyWarehouse:
        self.failing_until = time.monotonic() + seconds
        return self

    def crash_after(self, inserts: int) -> FaultyWarehouse:
        self.crash_after_inserts = inserts
        return self

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        return self.inner.query(sql, params)

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self.inner.command(sql, params)

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        if self.failures_left > 0 or time.monotonic() < self.failing_until:
            self.failures_left = max(0, self.failures_left - 1)
            self.failed += 1
            raise WarehouseError(f"injected failure of an insert into {table}")
        inserted = self.inner.insert(table, columns, rows)
        self.inserts += 1
        if self.crash_after_inserts and self.inserts >= self.crash_after_inserts:
            os.kill(os.getpid(), signal.SIGKILL)
        return inserted

    def close(self) -> None:
        self.inner.close()
