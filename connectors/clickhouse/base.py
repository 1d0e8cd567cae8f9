"""What the rest of the code needs from ClickHouse, whichever engine runs it.

Query parameters use ClickHouse's own syntax, `{name:Type}`, on both backends, so the
same SQL files run on chdb and on a server.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.clickhouse.settings import ClickHouseSettings


class WarehouseError(RuntimeError):
    """A statement failed; the message carries ClickHouse's own text."""


class RefusedError(WarehouseError):
    """ClickHouse refused the rows themselves (a bad value, a type the table does not take,
    too many partitions in one insert): the same insert fails again, whenever it is tried.
    Other `WarehouseError`s (a connection, a timeout, memory) may pass when retried."""


# ClickHouse's error codes that say an insert's data cannot go in as it is: parse and type
# errors, values out of range, NULL where the column takes none, unknown enum elements.
REFUSED_CODES = frozenset(
    {
        6,
        7,
        19,
        25,
        26,
        27,
        36,
        38,
        41,
        48,
        53,
        69,
        70,
        72,
        117,
        130,
        131,
        321,
        349,
        376,
        407,
        441,
        467,
        691,
    }
)
TOO_MANY_PARTS = 252  # also "too many partitions for single INSERT block", the insert's own fault


def refused_for_good(code: int | None, message: str) -> bool:
    """Whether ClickHouse's error `code` (with its `message`) refuses the inserted data itself.
    Code 252 is that only for too many partitions in one insert; too many parts in the table
    is the server throttling, which passes."""
    if code == TOO_MANY_PARTS:
        return "partitions for single insert" in message.lower()
    return code in REFUSED_CODES


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    types: tuple[str, ...]
    rows: list[tuple]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row)) for row in self.rows]


class Warehouse(ABC):
    """A connection to one ClickHouse database; close it (or use `with`) when done."""

    @abstractmethod
    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        """Run one SELECT (or any statement returning rows)."""

    @abstractmethod
    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run one statement that returns no rows (DDL, INSERT ... SELECT)."""

    @abstractmethod
    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert rows into `table`; returns how many."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_warehouse(settings: ClickHouseSettings) -> Warehouse:
    """chdb at `settings.data_path`, or the server at `settings.url` when it is set."""
    if settings.url:
        from connectors.clickhouse.server import ServerWarehouse

        return ServerWarehouse(settings)
    from connectors.clickhouse.embedded import EmbeddedWarehouse

    return EmbeddedWarehouse(settings)


class SharedWarehouse(Warehouse):
    """One warehouse used by several threads of a process (chdb allows one session per
    process): each statement runs alone, under a lock."""

    def __init__(self, inner: Warehouse) -> None:
        self.inner = inner
        self._lock = threading.Lock()

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        with self._lock:
            return self.inner.query(sql, params)

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        with self._lock:
            self.inner.command(sql, params)

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        with self._lock:
            return self.inner.insert(table, columns, rows)

    def close(self) -> None:
        with self._lock:
            self.inner.close()
