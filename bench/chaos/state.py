"""The final ClickHouse state of a chaos run as one JSON document: each query of
`bench/chaos/sql/` by its file name, as a list of rows (column -> value).

Runs as its own process (`python -m bench.chaos.state`) on the warehouse of CLICKHOUSE_DATA_PATH
(or CLICKHOUSE_URL): chdb opens one data path per process.
"""

from __future__ import annotations

import json
from pathlib import Path

from connectors.clickhouse import open_warehouse

QUERIES = Path(__file__).resolve().parent / "sql"


def main() -> None:
    with open_warehouse() as warehouse:
        state = {path.stem: warehouse.query(path.read_text(encoding="utf-8")).dicts()
                 for path in sorted(QUERIES.glob("*.sql"))}
    print(json.dumps(state))


if __name__ == "__main__":
    main()
