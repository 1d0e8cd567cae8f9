"""chdb: the ClickHouse engine in this process, on a data folder only one process may open."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from chdb import session

from connectors.clickhouse.base import QueryResult, Warehouse, WarehouseError
from pipeline.settings import ClickHouseSettings


class EmbeddedWarehouse(Warehouse):
    def __init__(self, settings: ClickHouseSettings) -> None:
        self.database = settings.database
        path = settings.data_path.resolve()
        path.mkdir(parents=True, exist_ok=True)
        try:
            self._session = session.Session(str(path))
        except Exception as error:  # chdb raises plain RuntimeErrors, e.g. a locked path
            raise WarehouseError(f"cannot open chdb at {path}: {error}") from error
        self._run(f"CREATE DATABASE IF NOT EXISTS {self.database}", None, "CSV")
        self._run(f"USE {self.database}", None, "CSV")

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        payload = self._run(sql, params, "JSONCompact")
        if not payload:
            return QueryResult((), (), [])
        result = orjson.loads(payload)
        meta = result["meta"]
        return QueryResult(
            tuple(column["name"] for column in meta),
            tuple(column["type"] for column in meta),
            [tuple(row) for row in result["data"]],
        )

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._run(sql, params, "CSV")

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        lines = [orjson.dumps(list(row), default=str) for row in rows]
        if not lines:
            return 0
        body = b"\n".join(lines).decode()
        self._run(f"INSERT INTO {table} ({', '.join(columns)}) FORMAT JSONCompactEachRow\n{body}", None, "CSV")
        return len(lines)

    def close(self) -> None:
        self._session.close()

    def _run(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> bytes:
        try:
            result = self._session.query(sql, fmt, params=dict(params) if params else None)
        except Exception as error:  # chdb reports every SQL error as a RuntimeError
            raise WarehouseError(str(error)) from error
        return result.bytes()
