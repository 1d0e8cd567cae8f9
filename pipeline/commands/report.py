"""`crossings report`: the ClickHouse dashboards' panels over a time range, run on
the warehouse and written as one HTML file that opens without a network."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from pipeline.commands.common import UserError

# grafana.report.DASHBOARDS, without importing the dashboards' code for the CLI's help
REPORT_BOARDS = ("ops_centre", "port_detail", "freight", "analysts")


def register(groups: argparse._SubParsersAction) -> None:
    report = groups.add_parser("report", help="write the ClickHouse dashboards' panels as one offline HTML file")
    report.add_argument(
        "--from",
        dest="start",
        type=parse_moment,
        required=True,
        help="UTC date (YYYY-MM-DD: from its start) or datetime (YYYY-MM-DDTHH:MM[:SS])",
    )
    report.add_argument(
        "--to", dest="end", type=parse_moment, required=True, help="UTC date (YYYY-MM-DD: through its end) or datetime"
    )
    report.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML file (default report.html)")
    report.add_argument(
        "--board",
        dest="boards",
        action="append",
        choices=REPORT_BOARDS,
        help="only this dashboard (repeatable; default every ClickHouse board: " + ", ".join(REPORT_BOARDS) + ")",
    )
    report.add_argument(
        "--png", type=Path, help="also a picture of the report, cropped to its content (headless Debian chromium)"
    )
    report.set_defaults(handler=run_report)


def parse_moment(text: str) -> date | datetime:
    """A date, or a datetime in UTC (naive ones are UTC, others converted)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (YYYY-MM-DD) or datetime (YYYY-MM-DDTHH:MM[:SS])"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def report_range(start: date | datetime, end: date | datetime) -> tuple[datetime, datetime]:
    """--from and --to as UTC datetimes: a --from date starts at its midnight, a --to date
    ends at the next one (the whole day is in)."""

    def at(moment: date | datetime, next_day: bool) -> datetime:
        if isinstance(moment, datetime):
            return moment
        return datetime.combine(moment + timedelta(days=next_day), time(), UTC)

    begin, finish = at(start, False), at(end, True)
    if finish <= begin:
        raise UserError(f"--to ({finish:%Y-%m-%d %H:%M:%S}) is not after --from ({begin:%Y-%m-%d %H:%M:%S})")
    return begin, finish


def run_report(args: argparse.Namespace) -> int:
    from connectors.clickhouse import open_warehouse
    from connectors.clickhouse.settings import ClickHouseSettings
    from grafana.report import describe, write_report
    from grafana.settings import GrafanaSettings

    start, end = report_range(args.start, args.end)
    settings = ClickHouseSettings()
    grafana = GrafanaSettings()
    with open_warehouse(settings) as warehouse:
        summary = write_report(
            warehouse, start, end, args.out, grafana, source=describe(settings), names=args.boards or REPORT_BOARDS
        )
    print(
        f"wrote {summary.path} ({summary.size_bytes // 1024} KiB): {summary.panels} panels, "
        f"{summary.with_data} with data, {summary.panels - summary.with_data - len(summary.failed)} empty, "
        f"{len(summary.failed)} failed"
    )
    if args.png:
        from grafana.report.pictures import PictureError, screenshot

        try:
            print(f"wrote {screenshot(summary.path, args.png)}")
        except PictureError as error:
            raise UserError(f"no picture: {error}") from error
    if summary.failed:
        print(
            f"{len(summary.failed)} panel queries failed, the report shows why (is the warehouse migrated? "
            "`crossings migrate`)",
            file=sys.stderr,
        )
        return 1
    return 0
