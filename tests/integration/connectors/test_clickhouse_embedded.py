"""chdb is the real ClickHouse engine: a MergeTree table on a data path keeps what we insert."""

from __future__ import annotations

import pytest

from connectors.clickhouse import WarehouseError


def test_mergetree_insert_and_select(warehouse):
    warehouse.command(
        """CREATE TABLE IF NOT EXISTS foundation_check (
             port LowCardinality(String), released_at DateTime64(3, 'UTC'), clearance_s UInt32
           ) ENGINE = MergeTree PARTITION BY toYYYYMM(released_at) ORDER BY (port, released_at)"""
    )
    rows = [
        ("LUOHU", "2024-01-01 08:00:00.000", 120),
        ("LUOHU", "2024-01-01 08:01:00.000", 300),
        ("FUTIAN", "2024-02-01 09:00:00.000", 60),
    ]
    assert warehouse.insert("foundation_check", ["port", "released_at", "clearance_s"], rows) == 3

    result = warehouse.query(
        "SELECT port, count() AS n, max(clearance_s) AS worst FROM foundation_check "
        "WHERE released_at >= {since:DateTime64(3, 'UTC')} GROUP BY port ORDER BY port",
        {"since": "2024-01-01 00:00:00"},
    )
    assert result.columns == ("port", "n", "worst")
    assert result.rows == [("FUTIAN", 1, 60), ("LUOHU", 2, 300)]
    engine = warehouse.query("SELECT engine FROM system.tables WHERE name = 'foundation_check'")
    assert engine.rows == [("MergeTree",)]
    partitions = warehouse.query(
        "SELECT DISTINCT partition FROM system.parts WHERE table = 'foundation_check' AND active ORDER BY partition"
    )
    assert partitions.rows == [("202401",), ("202402",)]


def test_sql_errors_carry_clickhouse_text(warehouse):
    with pytest.raises(WarehouseError, match="UNKNOWN_TABLE|doesn't exist|does not exist"):
        warehouse.query("SELECT * FROM no_such_table")
