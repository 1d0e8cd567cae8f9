"""chdb: the ClickHouse engine in this process, on a data folder only one process may open."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa
from chdb import session

from connectors.clickhouse.base import QueryResult, RefusedError, Warehouse, WarehouseError, refused_for_good
from connectors.clickhouse.settings import ClickHouseSettings


class EmbeddedWarehouse(Warehouse):
    def __init__(self, settings: ClickHouseSettings) -> None:
        self.database = settings.database
        self._types: dict[str, dict[str, str]] = {}  # table -> column -> type, for `_select`
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
        """Rows go in as one Arrow table read by chdb's `Python()` table function: 2-3x the
        rows/s of a JSONCompactEachRow body (`make bench-load`). Values Arrow cannot type
        together (mixed Python types in a column, ints beyond Int64) go as that JSON body.
        RefusedError when ClickHouse refuses a value, or no column type takes it (an int
        beyond 64 bits)."""
        rows = rows if isinstance(rows, list) else list(rows)
        if not rows:
            return 0
        names = ", ".join(columns)
        try:
            arrow_rows = _arrow_table(columns, rows)  # noqa: F841 (read by chdb, below)
        except (pa.ArrowException, TypeError, ValueError, OverflowError):
            try:
                body = b"\n".join(orjson.dumps(list(row), default=str) for row in rows).decode()
            except orjson.JSONEncodeError as error:
                raise RefusedError(f"a value no column of {table} takes: {error}") from error
            self._run(f"INSERT INTO {table} ({names}) FORMAT JSONCompactEachRow\n{body}", None, "CSV")
        else:
            # chdb finds `arrow_rows` by its name among the calling frames' variables
            self._run(
                f"INSERT INTO {table} ({names}) SELECT {self._select(table, columns)} FROM Python(arrow_rows)",
                None,
                "CSV",
            )
        return len(rows)

    def _select(self, table: str, columns: Sequence[str]) -> str:
        """The Arrow columns as the insert reads them, those of UUID and date or time columns
        cast to their type: chdb's implicit conversion from `Python()` turns text that is no
        such value into zeros and 1970 where the cast refuses it, as a server does."""
        types = self._types.get(table)
        if types is None:
            types = dict(
                self.query(
                    "SELECT name, type FROM system.columns WHERE database = currentDatabase() "
                    "AND table = {table:String}",
                    {"table": table},
                ).rows
            )
            if types:
                self._types[table] = types
        return ", ".join(
            f"CAST(`{name}` AS {types[name]})" if _PARSED.match(types.get(name, "")) else f"`{name}`"
            for name in columns
        )

    def close(self) -> None:
        self._session.close()

    def _run(self, sql: str, params: Mapping[str, Any] | None, fmt: str) -> bytes:
        try:
            result = self._session.query(sql, fmt, params=dict(params) if params else None)
        except Exception as error:  # chdb reports every SQL error as a RuntimeError
            message = str(error)
            code = _CODE.match(message)
            if code and refused_for_good(int(code.group(1)), message):
                raise RefusedError(message) from error
            raise WarehouseError(message) from error
        return result.bytes()


_CODE = re.compile(r"Code: (\d+)\.")  # how chdb's messages open, as the server's do
_PARSED = re.compile(r"(?:LowCardinality\()?(?:Nullable\()?(?:UUID|Date)")  # UUID, Date*, DateTime*


_ARROW_TYPES = {str: pa.string(), int: pa.int64(), float: pa.float64(), bool: pa.bool_()}


def _arrow_table(columns: Sequence[str], rows: list[Sequence[Any]]) -> pa.Table:
    """The rows as columns. When every column's first non-null value is a str, int, float
    or bool, the rows convert in one pass as a struct array (no transposing in Python);
    otherwise Arrow infers each column's type."""
    types = []
    for index in range(len(columns)):
        value = next((row[index] for row in rows if row[index] is not None), None)
        types.append(pa.null() if value is None else _ARROW_TYPES.get(type(value)))
    if None in types:
        return pa.table([pa.array(column) for column in zip(*rows)], names=list(columns))
    struct = pa.array(rows, type=pa.struct(list(zip(columns, types))))
    return pa.Table.from_struct_array(struct)
