"""`crossings load` whose inserts fail on demand, for the chaos suite's ClickHouse outage.

The same loader, settings and warehouse as `crossings load` (pipeline/commands/load.py); the
warehouse is wrapped in `FailingWarehouse`, and SIGUSR1 makes every insert fail (raise
WarehouseError without inserting) for `--fail-s` seconds from then. SIGTERM stops it as it
stops `crossings load`; the final stats go to stdout as JSON.
"""

from __future__ import annotations

import argparse
import json
import signal

from connectors.clickhouse import open_warehouse
from connectors.clickhouse.base import FailingWarehouse
from connectors.clickhouse.loader import Loader
from connectors.clickhouse.migrations import migrate
from connectors.kafka.topics import JOB_OUTPUTS, ensure_topics
from pipeline.commands.common import kafka_bootstrap, log_to_console, stop_on_signals
from pipeline.settings import ClickHouseSettings, LoaderSettings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fail-s", type=float, required=True, help="how long inserts fail after SIGUSR1")
    parser.add_argument("--stats-interval", type=float, default=10.0, help="seconds between stats log lines")
    args = parser.parse_args()
    log_to_console()
    bootstrap = kafka_bootstrap()
    ensure_topics(bootstrap, JOB_OUTPUTS)
    clickhouse = ClickHouseSettings()
    with stop_on_signals() as stop, open_warehouse(clickhouse) as warehouse:
        migrate(warehouse, clickhouse)
        failing = FailingWarehouse(warehouse)
        signal.signal(signal.SIGUSR1, lambda *_: failing.fail_for(args.fail_s))
        stats = Loader(bootstrap, failing, LoaderSettings(), stop=stop, stats_interval_s=args.stats_interval).run()
    print(json.dumps(stats.as_dict()))


if __name__ == "__main__":
    main()
