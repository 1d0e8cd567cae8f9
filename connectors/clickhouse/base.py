"""What the rest of the code needs from ClickHouse, whichever engine runs it.

Query parameters use ClickHouse's own syntax, `{name:Type}`, on both backends, so the
same SQL files run on chdb and on a server.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.settings import ClickHouseSettings


class WarehouseError(RuntimeError):
    """A statement failed; the message carries ClickHouse's own text."""


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


def open_warehouse(settings: ClickHouseSettings | None = None) -> Warehouse:
    """chdb at `settings.data_path`, or the server at `settings.url` when it is set."""
    settings = settings or ClickHouseSettings()
    if settings.url:
        from connectors.clickhouse.server import ServerWarehouse

        return ServerWarehouse(settings)
    from connectors.clickhouse.embedded import EmbeddedWarehouse

    return EmbeddedWarehouse(settings)
