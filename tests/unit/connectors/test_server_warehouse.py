"""The loader on a ClickHouse server, without a server: every table's rows, as the loader
builds them, through clickhouse-driver's own column writers for the types `sql/clickhouse/`
declares (and back through its readers); `ServerWarehouse` against a fake server speaking the
native protocol (`clickhouse_wire.FakeClickHouse`), which decodes what the driver sent; and
the server's errors told apart: refused for good (the data) or worth retrying."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

import orjson
import pytest
from clickhouse_driver import errors
from clickhouse_driver.columns.service import read_column, write_column

from connectors.clickhouse.base import RefusedError, WarehouseError
from connectors.clickhouse.loader import REJECT_COLUMNS, REJECTS_TABLE, TARGETS, reject_row
from connectors.clickhouse.server import ServerWarehouse, typed_rows, warehouse_error
from connectors.clickhouse.settings import ClickHouseSettings
from connectors.kafka.topics import ALERTS, CLEAN, CLEARANCE, DEAD_LETTERS, PIPELINE_COUNTS, THROUGHPUT

from .clickhouse_wire import FakeClickHouse, FakeSocket, declared_columns, driver_context
from .test_loader_rows import TRUCK

TABLES = declared_columns()
WHERE = {"port_code": "LUOHU", "kind": "traveller", "direction": "entry"}
WINDOW = {"window_start": "2024-05-01T08:00:00Z", **WHERE}
RECORDS = {  # one record per output topic, as the job writes it
    CLEAN.name: [
        TRUCK,
        {
            **{k: v for k, v in TRUCK.items() if k not in ("plate_ref", "declared_weight_kg")},
            "kind": "traveller",
            "category": "mainland-resident",
            "document_type": "exit-entry-permit",
            "released_at": "2024-04-30T16:02:18.123456789Z",
        },
    ],
    THROUGHPUT.name: [{**WINDOW, "window_end": "2024-05-01T08:01:00Z", "channel_type": "e-channel", "crossings": 12}],
    CLEARANCE.name: [
        {
            **WINDOW,
            "window_end": "2024-05-01T08:05:00Z",
            "crossings": 3,
            "mean_s": 10,
            "p50_s": 9.5,
            "p90_s": 20.0,
            "p99_s": 21.0,
            "max_s": 22.0,
        }
    ],
    PIPELINE_COUNTS.name: [
        {
            "received_minute": "2024-05-01T08:00:00Z",
            "topic": "crossings.raw.truck",
            "received": 5,
            "clean": 3,
            "dead_letters": 1,
            "duplicates": 1,
            "too_late": 0,
        }
    ],
    ALERTS.name: [
        {
            **WHERE,
            "episode_id": "5b9e7067-c32f-4a7d-aaa5-6d947ad567b9",
            "state": state,
            "severity": "critical",
            "started_at": "2024-05-01T08:00:00Z",
            "ended_at": ended,
            "peak_p90_s": 900.0,
            "threshold_s": 300,
        }
        for state, ended in (("raised", None), ("resolved", "2024-05-01T08:20:00Z"))
    ],
    DEAD_LETTERS.name: [
        {
            "reason": "bad-json: unexpected end",
            "topic": "crossings.raw.truck",
            "partition": 3,
            "offset": 17,
            "payload": '{"event_id":',
            "detected_at": "2024-05-01T08:00:00Z",
        }
    ],
}


def loader_rows(topic: str) -> list[tuple]:
    target = TARGETS[topic]
    return [target.convert(orjson.dumps(record), 2, 40 + index) for index, record in enumerate(RECORDS[topic])]


def reject_rows() -> list[tuple]:
    crossing = TARGETS[CLEAN.name]
    return [reject_row(crossing, 1, 7, loader_rows(CLEAN.name)[0], "Code: 376. Cannot parse uuid")]


def table_rows() -> list[tuple[str, Sequence, list[tuple]]]:
    """Every table the loader writes: (table, columns, rows as the loader builds them)."""
    return [
        *((TARGETS[topic].table, TARGETS[topic].columns, loader_rows(topic)) for topic in RECORDS),
        (REJECTS_TABLE, REJECT_COLUMNS, reject_rows()),
    ]


def as_read(spec: str, value: object) -> object:
    """What the driver reads back of `value` (as the loader built it) written as `spec`."""
    if value is None:
        return None
    if "DateTime" in spec:
        moment = datetime.fromisoformat(value).replace(tzinfo=UTC)
        digits = int(spec.split("(")[-1].split(",")[0]) if "DateTime64" in spec else 0
        return moment.replace(microsecond=moment.microsecond // 10 ** (6 - digits) * 10 ** (6 - digits))
    return UUID(value) if spec == "UUID" else value


def test_the_loader_writes_every_table_the_migrations_declare_with_its_columns():
    assert {table for table, _, _ in table_rows()} <= TABLES.keys()
    for table, columns, rows in table_rows():
        assert set(columns) <= TABLES[table].keys(), table
        assert rows and all(len(row) == len(columns) for row in rows)


def test_the_driver_cannot_write_timestamps_as_text():
    """What the loader handed the driver before: its DateTime64 column calls `.tzinfo`."""
    with pytest.raises(AttributeError, match="tzinfo"):
        write_column(
            driver_context(),
            "queued_at",
            TABLES["crossings"]["queued_at"],
            ["2024-04-30 16:00:39.274"],
            FakeSocket().writer(),
        )


@pytest.mark.parametrize(
    ("table", "columns", "rows"),
    table_rows(),
    ids=lambda value: value if isinstance(value, str) and value in TABLES else "",
)
def test_each_tables_rows_go_through_the_drivers_column_writers(table, columns, rows):
    context = driver_context()
    types = [(name, TABLES[table][name]) for name in columns]
    typed = typed_rows(types, [tuple(row) for row in rows])
    for index, (name, spec) in enumerate(types):
        wire = FakeSocket()
        out = wire.writer()
        write_column(context, name, spec, [row[index] for row in typed], out)
        out.flush()
        back = read_column(context, spec, len(rows), wire.reader())
        assert list(back) == [as_read(spec, row[index]) for row in rows], (table, name)


def test_server_warehouse_inserts_every_tables_rows_as_the_server_reads_them():
    with FakeClickHouse() as server:
        warehouse = ServerWarehouse(ClickHouseSettings(url=server.url))
        for table, columns, rows in table_rows():
            assert warehouse.insert(table, columns, rows) == len(rows)
        warehouse.close()
    assert not server.errors
    for table, columns, rows in table_rows():
        expected = [{name: as_read(TABLES[table][name], value) for name, value in zip(columns, row)} for row in rows]
        assert server.inserted[table] == expected, table
    assert server.inserted["crossings"][1]["released_at"] == datetime(2024, 4, 30, 16, 2, 18, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("code", "message", "refused"),
    [
        (27, "Cannot parse input: expected '\"' before: '12345'", True),
        (376, "Cannot parse UUID from String", True),
        (252, "Too many partitions for single INSERT block (more than 100)", True),
        (252, "Too many parts (300 with average size of 1.00 MiB) in table 'crossings.crossings'", False),
        (241, "Memory limit (total) exceeded", False),
        (60, "Table crossings.load_rejects does not exist", False),
    ],
)
def test_the_servers_errors_are_refusals_of_the_data_or_worth_retrying(code, message, refused):
    throughput = TARGETS[THROUGHPUT.name]
    with FakeClickHouse(refuse=lambda table, rows: (code, message)) as server:
        warehouse = ServerWarehouse(ClickHouseSettings(url=server.url))
        with pytest.raises(WarehouseError) as caught:
            warehouse.insert(throughput.table, throughput.columns, loader_rows(THROUGHPUT.name))
        warehouse.close()
    assert isinstance(caught.value, RefusedError) is refused
    assert str(caught.value) == f"Code: {code}. {message}"  # without the server's stack trace
    assert not server.errors and "throughput_windows" not in server.inserted


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("declared_weight_kg", "heavy"),
        ("event_id", "poison"),
        ("queued_at", None),
        ("released_at", "2024-02-30 00:00:00"),
        ("schema_version", 300),
    ],
)
def test_values_the_driver_cannot_write_are_refused(column, value):
    crossing = TARGETS[CLEAN.name]
    row = dict(zip(crossing.columns, loader_rows(CLEAN.name)[0]))
    with FakeClickHouse() as server:
        warehouse = ServerWarehouse(ClickHouseSettings(url=server.url))
        with pytest.raises(RefusedError):
            warehouse.insert(crossing.table, crossing.columns, [tuple({**row, column: value}.values())])
        assert warehouse.insert(crossing.table, crossing.columns, [tuple(row.values())]) == 1  # and goes on
        warehouse.close()
    assert len(server.inserted["crossings"]) == 1


def test_a_server_out_of_reach_is_worth_retrying():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(WarehouseError, match="cannot reach ClickHouse") as caught:
        ServerWarehouse(ClickHouseSettings(url=f"clickhouse://default@127.0.0.1:{port}/crossings"))
    assert not isinstance(caught.value, RefusedError)
    for error in (errors.NetworkError("Connection reset by peer"), errors.SocketTimeoutError("timed out")):
        assert type(warehouse_error(error)) is WarehouseError
