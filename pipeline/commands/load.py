"""`crossings load`: the job's output topics into ClickHouse (connectors/clickhouse/loader.py)."""

from __future__ import annotations

import argparse
import json
import logging

from connectors.clickhouse import open_warehouse
from connectors.clickhouse.loader import Loader
from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.settings import ClickHouseSettings, LoaderSettings
from pipeline.commands.common import kafka_bootstrap, log_to_console, stop_on_signals


def register(groups: argparse._SubParsersAction) -> None:
    load = groups.add_parser("load", help="load the job's output topics into ClickHouse")
    defaults = {name: field.default for name, field in LoaderSettings.model_fields.items()}
    load.add_argument("--once", action="store_true", help="stop once caught up (consumer lag 0)")
    load.add_argument("--json", action="store_true", help="print the final stats as one JSON document")
    load.add_argument("--group", help=f"consumer group (default LOADER_GROUP_ID, else {defaults['group_id']})")
    load.add_argument(
        "--batch-rows",
        type=int,
        help=f"insert a table's batch at this many rows (default LOADER_BATCH_ROWS, else {defaults['batch_rows']})",
    )
    load.add_argument(
        "--max-wait-ms",
        type=int,
        help=f"... or when it is this old (default LOADER_BATCH_WAIT_MS, else {defaults['batch_wait_ms']})",
    )
    load.add_argument("--stats-interval", type=float, default=10.0, help="seconds between stats log lines")
    load.set_defaults(handler=run_load)


def run_load(args: argparse.Namespace) -> int:
    log_to_console()
    options = {"group_id": args.group, "batch_rows": args.batch_rows, "batch_wait_ms": args.max_wait_ms}
    settings = LoaderSettings(**{name: value for name, value in options.items() if value is not None})
    bootstrap = kafka_bootstrap()
    clickhouse = ClickHouseSettings()
    with stop_on_signals() as stop, open_warehouse(clickhouse) as warehouse:
        migrate(warehouse, clickhouse)
        loader = Loader(
            bootstrap,
            warehouse,
            settings,
            stop=stop,
            stats_interval_s=args.stats_interval,
            metrics_port=settings.metrics_port,
        )
        stats = loader.run(once=args.once)
    if args.json:
        print(json.dumps(stats.as_dict()))
    else:
        logging.getLogger("crossings.load").info(stats.line())
    stop.raise_if_signalled()
    return 0
