"""`crossings load` with faults on demand, for the chaos suite and the loader's tests.

The same loader, settings and warehouse as `crossings load` (pipeline/commands/load.py); the
warehouse is wrapped in `FaultyWarehouse` (bench/chaos/faults.py):
- `--fail-s S`: SIGUSR1 makes every insert fail (raise WarehouseError without inserting) for S
  seconds from then;
- `--crash-after-insert N`: the process SIGKILLs itself right after its N-th insert, before
  that batch's offsets are committed.
SIGTERM stops it as it stops `crossings load`; the final stats go to stdout as JSON.
"""

from __future__ import annotations

import argparse
import json
import signal

from bench.chaos.faults import FaultyWarehouse
from connectors.clickhouse import open_warehouse
from connectors.clickhouse.loader import Loader
from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.settings import ClickHouseSettings, LoaderSettings
from connectors.kafka.topics import JOB_OUTPUTS, ensure_topics
from pipeline.commands.common import kafka_bootstrap, log_to_console, stop_on_signals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fail-s", type=float, default=0.0, help="how long inserts fail after SIGUSR1")
    parser.add_argument("--crash-after-insert", type=int, default=0, help="SIGKILL after this many inserts")
    parser.add_argument("--once", action="store_true", help="stop once caught up")
    parser.add_argument("--stats-interval", type=float, default=10.0, help="seconds between stats log lines")
    args = parser.parse_args()
    log_to_console()
    bootstrap = kafka_bootstrap()
    ensure_topics(bootstrap, JOB_OUTPUTS)
    clickhouse = ClickHouseSettings()
    with stop_on_signals() as stop, open_warehouse(clickhouse) as warehouse:
        migrate(warehouse, clickhouse)
        faulty = FaultyWarehouse(warehouse).crash_after(args.crash_after_insert)
        signal.signal(signal.SIGUSR1, lambda *_: faulty.fail_for(args.fail_s))
        loader = Loader(bootstrap, faulty, LoaderSettings(), stop=stop, stats_interval_s=args.stats_interval)
        stats = loader.run(once=args.once)
    print(json.dumps(stats.as_dict()))


if __name__ == "__main__":
    main()
