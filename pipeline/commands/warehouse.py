"""`crossings migrate`, `crossings sql` and `crossings load-statistics`: the warehouse."""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from rich.console import Console
from rich.table import Table

from connectors.clickhouse import QueryResult, Warehouse, WarehouseError, open_warehouse
from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.settings import ClickHouseAnalystSettings, ClickHouseSettings
from connectors.clickhouse.statistics import load_statistics
from pipeline.commands.common import UserError

# A query parameter in ClickHouse's syntax: {name:Type}, e.g. {since:DateTime64(3, 'UTC')}.
_PARAMETER = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}]+?)\s*\}")


def register(groups: argparse._SubParsersAction) -> None:
    migrate_ = groups.add_parser("migrate", help="apply the warehouse migrations not yet applied")
    migrate_.set_defaults(handler=run_migrate)

    sql = groups.add_parser("sql", help="run a query on the warehouse and print the rows")
    sql.add_argument("query", nargs="?", help="the SQL text (or -f FILE)")
    sql.add_argument("-f", "--file", type=Path, help="read the SQL from a file, e.g. sql/queries/x.sql")
    sql.add_argument(
        "--param",
        dest="params",
        action="append",
        type=parse_param,
        default=[],
        metavar="NAME=VALUE",
        help="value of a {NAME:Type} parameter (repeatable)",
    )
    sql.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default="table",
        help="table (default), csv, or json (one array of objects)",
    )
    sql.add_argument(
        "--write",
        action="store_true",
        help="run as the writer (an operator's INSERT, ALTER, DROP); without it the query "
        "runs read-only: readonly = 1 on chdb, the analyst login on a server",
    )
    sql.set_defaults(handler=run_sql)

    load = groups.add_parser("load-statistics", help="load the HK daily passenger statistics")
    load.add_argument("csv", type=Path, help="hk-immd-daily-passenger-traffic CSV")
    load.add_argument("--from", dest="date_from", type=date.fromisoformat, default=None)
    load.add_argument("--to", dest="date_to", type=date.fromisoformat, default=None)
    load.set_defaults(handler=run_load_statistics)


def parse_param(text: str) -> tuple[str, str]:
    """NAME=VALUE -> (NAME, VALUE); the value may itself contain '='."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def query_parameters(sql: str) -> dict[str, str]:
    """The {name:Type} parameters a query uses: name -> type."""
    return {name: type_ for name, type_ in _PARAMETER.findall(sql)}


def bind_parameters(sql: str, given: list[tuple[str, str]]) -> dict[str, str]:
    """The --param values for `sql`; a missing, unknown or repeated parameter is a UserError."""
    wanted = query_parameters(sql)
    values: dict[str, str] = {}
    for name, value in given:
        if name in values:
            raise UserError(f"--param {name} is given twice")
        values[name] = value
    missing = [f"{name} ({type_})" for name, type_ in wanted.items() if name not in values]
    if missing:
        raise UserError(f"missing --param for {', '.join(missing)}")
    unknown = sorted(values.keys() - wanted.keys())
    if unknown:
        takes = ", ".join(wanted) or "no parameters"
        raise UserError(f"unknown --param {', '.join(unknown)}: the query takes {takes}")
    return values


def read_query(args: argparse.Namespace) -> str:
    if (args.query is None) == (args.file is None):
        raise UserError("give the SQL text or -f FILE (one of them)")
    if args.file is None:
        sql = args.query
    else:
        try:
            sql = args.file.read_text(encoding="utf-8")
        except OSError as error:
            raise UserError(f"cannot read {args.file}: {error.strerror}") from error
    sql = sql.strip().removesuffix(";").strip()
    if not sql:
        raise UserError("the query is empty")
    return sql


def run_migrate(args: argparse.Namespace) -> int:
    settings = ClickHouseSettings()
    with open_warehouse(settings) as warehouse:
        applied = migrate(warehouse, settings)
    if not applied:
        print("up to date: no migration to apply")
    for migration in applied:
        print(f"applied {migration.path.name}")
    return 0


def run_sql(args: argparse.Namespace) -> int:
    sql = read_query(args)
    params = bind_parameters(sql, args.params)
    with open_for_sql(args.write) as warehouse:
        try:
            result = warehouse.query(sql, params or None)
        except WarehouseError as error:
            if args.write or "READONLY" not in str(error):
                raise
            raise UserError(f"{error}\n(read-only without --write, which runs the query as the writer)") from error
    if args.format == "json":
        print(json.dumps(result.dicts(), default=str, ensure_ascii=False))
    elif args.format == "csv":
        _print_csv(result)
    else:
        _print_table(result)
    return 0


def open_for_sql(write: bool) -> Warehouse:
    """`crossings sql`'s warehouse. With `write`, the writer, as the loader and `migrate` open
    it. Without, read-only: chdb's session gets readonly = 1 (no write, no DDL, no setting
    changed, no file read), and a server is reached as the analyst login
    (CLICKHOUSE_ANALYST_USER and _PASSWORD at the host of CLICKHOUSE_URL), whose role fixes
    readonly and bounds time and memory under a quota (sql/roles/)."""
    settings = ClickHouseSettings()
    if write:
        return open_warehouse(settings)
    if settings.url:
        analyst = ClickHouseAnalystSettings()
        if not analyst.password.get_secret_value():
            raise UserError(
                "CLICKHOUSE_ANALYST_PASSWORD is not set: on a server `crossings sql` reads as the "
                "analyst login (or give --write to run as the writer)"
            )
        url = urlsplit(settings.url)  # without the writer's user and password, if it holds them
        url = urlunsplit(url._replace(netloc=url.netloc.rpartition("@")[2]))
        return open_warehouse(
            settings.model_copy(update={"url": url, "user": analyst.user, "password": analyst.password})
        )
    warehouse = open_warehouse(settings)
    try:
        warehouse.command("SET readonly = 1")  # for this session, which cannot lift it again
    except BaseException:
        warehouse.close()
        raise
    return warehouse


def _print_csv(result: QueryResult) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([("" if value is None else value for value in row) for row in result.rows])


def _print_table(result: QueryResult) -> None:
    console = Console()
    if not result.columns:
        console.print("done (no rows returned)")
        return
    table = Table(*result.columns)
    for row in result.rows:
        table.add_row(*("NULL" if value is None else str(value) for value in row))
    console.print(table)
    console.print(f"{len(result.rows)} rows")


def run_load_statistics(args: argparse.Namespace) -> int:
    if not args.csv.is_file():
        raise UserError(f"no such file: {args.csv}")
    settings = ClickHouseSettings()
    with open_warehouse(settings) as warehouse:
        migrate(warehouse, settings)
        try:
            load = load_statistics(warehouse, args.csv, args.date_from, args.date_to)
        except ValueError as error:
            raise UserError(str(error)) from error
    console = Console()
    console.print(
        f"[bold]{load.rows}[/bold] rows loaded into official_daily_traffic ({load.lines} CSV lines, {load.days} days)"
    )
    if not load.rejections:
        return 0
    console.print(f"[yellow]{len(load.rejections)} lines rejected, the rest loaded[/yellow]")
    for rejection in load.rejections:
        console.print(f"  {args.csv}:{rejection.line}: {rejection.reason}", markup=False, highlight=False)
    return 1
