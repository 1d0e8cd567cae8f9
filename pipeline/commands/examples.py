"""An example or two for each command, shown at the end of its `--help`."""

from __future__ import annotations

import argparse

STATISTICS = "../shared/data/hk-immd-daily-passenger-traffic-2021-01-01_2025-06-30.csv"

EXAMPLES: dict[tuple[str, ...], tuple[str, ...]] = {
    ("demo",): ("crossings demo", "crossings demo --sim-hours 6 --speed 480 --scenario surge --no-board"),
    ("services", "up"): ("crossings services up", "crossings services up --brokers 3"),
    ("services", "down"): ("crossings services down",),
    ("services", "status"): ("crossings services status --json",),
    ("status",): ("crossings status", "STATUS_MAX_FRESHNESS_S=60 crossings status --json"),
    ("generate",): ("crossings generate --sim-hours 24 --scenario demo-day --speed 60 --scale 0.1",),
    ("replay",): (f"crossings replay {STATISTICS} --from 2024-01-01 --to 2024-01-07 --scale 0.01",),
    ("job", "run"): (
        "crossings job run",
        "PIPELINE_CONSUMER_GROUP=reprocess-1 PIPELINE_TRANSACTIONAL_ID_PREFIX=reprocess-1 crossings job run --bounded",
    ),
    ("job", "submit"): ("crossings job submit", "crossings job submit --from-savepoint PATH"),
    ("job", "stop"): ("crossings job stop",),
    ("forecast", "learn"): ("crossings forecast learn", "crossings forecast learn --days 14 --to 2026-11-27"),
    ("forecast", "run"): (
        "crossings forecast run",
        "crossings forecast run --profile var/forecast/profiles.json --bounded",
    ),
    ("forecast", "submit"): ("crossings forecast submit",),
    ("load",): ("crossings load", "crossings load --once --json"),
    ("migrate",): ("crossings migrate",),
    ("sql",): (
        'crossings sql "SELECT port_code, count() FROM crossings FINAL GROUP BY port_code"',
        "crossings sql -f sql/queries/daily_crossings.sql --param date_from=2024-01-01 "
        "--param date_to=2024-01-07 --format csv",
    ),
    ("load-statistics",): (f"crossings load-statistics {STATISTICS} --from 2024-01-01 --to 2024-01-07",),
    ("alerts", "dispatch"): (
        "ALERTS_WEBHOOK_URLS=https://ops.example/hooks/alerts crossings alerts dispatch",
        "crossings alerts dispatch --once --json",
    ),
    ("grafana", "build"): ("crossings grafana build", "crossings grafana build --check"),
    ("grafana", "push"): ("GRAFANA_URL=http://127.0.0.1:3000 GRAFANA_TOKEN=... crossings grafana push",),
    ("report",): (
        "crossings report --from 2024-05-01 --to 2024-05-01 --out var/report.html",
        "crossings report --from 2024-05-01 --to 2024-05-01 --board ops_centre --out var/ops.html --png var/ops.png",
    ),
}


def add_examples(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> None:
    """Gives every command below `parser` its examples as the epilog of its help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                add_examples(command, (*path, name))
    if path in EXAMPLES:
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        parser.epilog = "examples:\n" + "\n".join(f"  {example}" for example in EXAMPLES[path])
