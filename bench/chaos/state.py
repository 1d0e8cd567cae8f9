"""The final ClickHouse state of a chaos run as one JSON document: each query of
`bench/chaos/sql/` by its file name, as a list of rows (column -> value).

Runs as its own process (`python -m bench.chaos.state`) on the warehouse of CLICKHOUSE_DATA_PATH
(or CLICKHOUSE_URL): chdb opens one data path per process.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.chaos.inputs import CLEAR_IDENTIFIERS
from connectors.clickhouse import open_warehouse
from connectors.clickhouse.settings import ClickHouseSettings

QUERIES = Path(__file__).resolve().parent / "sql"


def main() -> None:
    with open_warehouse(ClickHouseSettings()) as warehouse:
        state = {
            path.stem: warehouse.query(path.read_text(encoding="utf-8")).dicts()
            for path in sorted(QUERIES.glob("*.sql"))
        }
        state["clear_identifiers"] = clear_identifiers(warehouse)
    print(json.dumps(state))


def clear_identifiers(warehouse) -> dict[str, int]:
    """Per table and view of the database: how many of its rows hold a clear identifier of the
    chaos input, anywhere in any column."""
    tables = warehouse.query("SELECT name FROM system.tables WHERE database = currentDatabase()").rows
    found = {}
    for (table,) in tables:
        rows = warehouse.query(f"SELECT * FROM `{table}`").rows
        found[table] = sum(any(identifier in str(row) for identifier in CLEAR_IDENTIFIERS) for row in rows)
    return found


if __name__ == "__main__":
    main()
