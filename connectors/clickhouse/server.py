"""A ClickHouse server through clickhouse-driver's native protocol."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import urlparse

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError

from connectors.clickhouse.base import QueryResult, Warehouse, WarehouseError
from pipeline.settings import ClickHouseSettings


class ServerWarehouse(Warehouse):
    def __init__(self, settings: ClickHouseSettings) -> None:
        url = urlparse(settings.url)
        self.database = url.path.lstrip("/") or settings.database
        connection = {
            "host": url.hostname or "127.0.0.1",
            "port": url.port or 9000,
            "user": url.username or settings.user,
            "password": url.password or settings.password.get_secret_value(),
            "settings": {"server_side_params": True},
        }
        bootstrap = Client(database="default", **connection)
        try:
            # only when missing: a read-only analyst may not create, but connects to what exists
            if not bootstrap.execute("SELECT 1 FROM system.databases WHERE name = {name:String}",
                                     {"name": self.database}):
                bootstrap.execute(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        except DriverError as error:
            raise WarehouseError(f"cannot reach ClickHouse at {url.hostname}:{url.port}: {error}") from error
        finally:
            bootstrap.disconnect()
        self._client = Client(database=self.database, **connection)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        rows, meta = self._execute(sql, params, with_column_types=True)
        return QueryResult(tuple(m[0] for m in meta), tuple(m[1] for m in meta), [tuple(r) for r in rows])

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._execute(sql, params)

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        data = [list(row) for row in rows]
        if data:
            self._execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES", data)
        return len(data)

    def close(self) -> None:
        self._client.disconnect()

    def _execute(self, sql: str, params: Any, **kwargs: Any) -> Any:
        try:
            return self._client.execute(sql, params, **kwargs)
        except DriverError as error:
            raise WarehouseError(str(error)) from error
