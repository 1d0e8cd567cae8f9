"""A ClickHouse server through clickhouse-driver's native protocol.

Rows come as the rest of the code builds them, for chdb as much as for a server: timestamps as
ClickHouse's text ('2024-05-01 08:00:00.123'). The driver writes each column from Python
values (its DateTime64 column calls `.tzinfo` on each item), so a block's values are typed
before it is sent, from the column types the server announces for the insert (its sample
block): timestamp text becomes a datetime in the column's time zone, date text a `date`,
decimals `Decimal`s. Enum names, UUID text, ints, floats and strings go as they are: the
driver takes them so.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

from clickhouse_driver import Client, errors

from connectors.clickhouse.base import QueryResult, RefusedError, Warehouse, WarehouseError, refused_for_good
from connectors.clickhouse.settings import ClickHouseSettings

# Errors of the driver itself that mean a value cannot be written as its column's type.
_DRIVER_REFUSALS = (
    errors.TypeMismatchError,
    errors.CannotParseUuidError,
    errors.CannotParseDomainError,
    errors.LogicalError,
)  # LogicalError: an enum element the column does not have
# What a column writer (or typing a value) raises for a value it cannot take.
_VALUE_ERRORS = (TypeError, ValueError, AttributeError, OverflowError, struct.error)


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
            if not bootstrap.execute(
                "SELECT 1 FROM system.databases WHERE name = {name:String}", {"name": self.database}
            ):
                bootstrap.execute(f"CREATE DATABASE IF NOT EXISTS {self.database}")
        except errors.Error as error:
            raise WarehouseError(f"cannot reach ClickHouse at {url.hostname}:{url.port}: {error}") from error
        finally:
            bootstrap.disconnect()
        self._client = TypedClient(database=self.database, **connection)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> QueryResult:
        rows, meta = self._execute(sql, params, with_column_types=True)
        return QueryResult(tuple(m[0] for m in meta), tuple(m[1] for m in meta), [tuple(r) for r in rows])

    def command(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._execute(sql, params)

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """RefusedError when the server refuses the data, or the driver cannot write a value
        as its column's type."""
        data = [list(row) for row in rows]
        if data:
            try:
                self._execute(f"INSERT INTO {table} ({', '.join(columns)}) VALUES", data)
            except _VALUE_ERRORS as error:
                raise RefusedError(f"a value of {table} cannot be written: {type(error).__name__}: {error}") from error
        return len(data)

    def close(self) -> None:
        self._client.disconnect()

    def _execute(self, sql: str, params: Any, **kwargs: Any) -> Any:
        try:
            return self._client.execute(sql, params, **kwargs)
        except errors.Error as error:
            raise warehouse_error(error) from error


def warehouse_error(error: errors.Error) -> WarehouseError:
    """The driver's error as a RefusedError when it is about the data, else a WarehouseError;
    the server's message without its stack trace."""
    if isinstance(error, errors.ServerException):
        message = error.message.split(". Stack trace:", 1)[0]
        refused = refused_for_good(error.code, message)
        message = f"Code: {error.code}. {message}"
    else:
        message, refused = str(error), isinstance(error, _DRIVER_REFUSALS)
    return (RefusedError if refused else WarehouseError)(message)


class TypedClient(Client):
    """A driver client whose inserts type their values from the server's sample block."""

    def send_data(self, sample_block: Any, data: Any, *args: Any, **kwargs: Any) -> int:
        if not kwargs.get("columnar"):
            data = typed_rows(sample_block.columns_with_types, data)
        return super().send_data(sample_block, data, *args, **kwargs)


def typed_rows(columns_with_types: Sequence[tuple[str, str]], rows: Iterable[Sequence[Any]]) -> list[list]:
    """The rows as lists (lists are typed in place) with each value of a column in
    `columns_with_types` (name, ClickHouse type) typed as the driver writes that type;
    None stays None. ValueError for text that is no value of its type."""
    typing = [
        (index, convert)
        for index, (_, spec) in enumerate(columns_with_types)
        if (convert := value_typing(spec)) is not None
    ]
    typed = []
    for row in rows:
        row = row if isinstance(row, list) else list(row)
        for index, convert in typing:
            if row[index] is not None:
                row[index] = convert(row[index])
        typed.append(row)
    return typed


_WRAPPERS = re.compile(r"^(?:LowCardinality|Nullable)\((.*)\)$")
_TIME_ZONE = re.compile(r"'([^']+)'")


def value_typing(spec: str) -> Callable[[Any], Any] | None:
    """How a value becomes what the driver writes for the ClickHouse type `spec`; None when
    it takes the value as it comes."""
    while match := _WRAPPERS.match(spec):
        spec = match.group(1)
    if spec.startswith("DateTime"):
        zone = _TIME_ZONE.search(spec)
        return _datetime_in(ZoneInfo(zone.group(1)) if zone else None)
    if spec in ("Date", "Date32"):
        return lambda value: date.fromisoformat(value) if isinstance(value, str) else value
    if spec.startswith("Decimal"):
        return lambda value: value if isinstance(value, Decimal) else Decimal(str(value))
    return None


def _datetime_in(zone: ZoneInfo | None) -> Callable[[Any], Any]:
    """Text ('2024-05-01 08:00:00.123456789', digits beyond microseconds dropped) or a
    datetime; naive ones are in `zone`, the column's (none: the server's, as the driver and
    ClickHouse's text parsing take them). Ints (seconds or ticks) go as they are."""

    def typed(value: Any) -> Any:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime) and value.tzinfo is None and zone is not None:
            value = value.replace(tzinfo=zone)
        return value

    return typed
