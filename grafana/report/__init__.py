"""The offline report: the panel queries of the ClickHouse dashboards (ops centre, port detail,
freight, analysts), expanded as Grafana expands them (every filter variable = All) and run on
the warehouse, rendered as one
self-contained HTML file: time series as inline SVG line charts (`svg.py`), tables as HTML
tables, stats as big numbers. Nothing in it loads from the network."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from connectors.clickhouse import QueryResult, Warehouse, WarehouseError
from connectors.clickhouse.settings import ClickHouseSettings
from grafana.build import render
from grafana.macros import TimeRange, dashboard_variables, expand, expand_variables
from grafana.report.svg import format_value, line_chart
from grafana.settings import GrafanaSettings

# every board on ClickHouse; pipeline_health reads Prometheus, which a report has not
DASHBOARDS = ("ops_centre", "port_detail", "freight", "analysts")
PAGE_WIDTH = 1320  # px of the 24 grid columns, as Grafana's
TABLE_ROWS = 200  # rows shown of a table panel
NUMERIC = re.compile(r"^(Nullable\()?(U?Int\d+|Float\d+|Decimal)")
AXIS_UNITS = {"s": " (s)", "percentunit": " (%)"}  # Grafana unit -> the value axis' label suffix
ZONE_OF_TYPE = re.compile(r"DateTime(?:64)?\((?:\d+,\s*)?'([^']+)'\)")


@dataclass(frozen=True)
class PanelResult:
    """One panel of a dashboard's JSON and what its query returned (or why it failed)."""

    panel: dict
    result: QueryResult | None = None
    error: str | None = None

    @property
    def rows(self) -> int:
        return len(self.result.rows) if self.result else 0


@dataclass(frozen=True)
class ReportSummary:
    """What `write_report` wrote: the file, its panels, how many returned rows, which failed."""

    path: Path
    panels: int
    with_data: int
    failed: tuple[str, ...]  # titles of the panels whose query failed
    size_bytes: int


def interval_for(start: datetime, end: datetime) -> int:
    """The $__timeInterval bucket, seconds: 1 min up to 6 h, 5 min up to 2 days, 1 h beyond."""
    span = end - start
    return 60 if span <= timedelta(hours=6) else 300 if span <= timedelta(days=2) else 3600


def describe(settings: ClickHouseSettings) -> str:
    """Where the warehouse is, for the report's header (a server URL without credentials)."""
    if settings.url:
        parts = urlsplit(settings.url)
        return f"ClickHouse server {parts.hostname}:{parts.port or 9000}{parts.path or ''}"
    return f"chdb (embedded) at {settings.data_path.resolve()}"


def run_panels(
    warehouse: Warehouse, time_range: TimeRange, settings: GrafanaSettings, names: Sequence[str] = DASHBOARDS
) -> dict[str, tuple[dict, list[PanelResult]]]:
    """Dashboard name -> (its JSON, its panels in order with their results; rows carry none),
    for the dashboards `names` (of DASHBOARDS)."""
    boards = {}
    for name in names:
        board = json.loads(render(name, settings))
        variables = dashboard_variables(board)  # every filter at its default: All
        results = []
        for panel in board["panels"]:
            if panel["type"] == "row":
                results.append(PanelResult(panel))
                continue
            panel = panel | {"title": expand_variables(panel["title"], variables)}  # as Grafana shows it
            try:
                results.append(
                    PanelResult(panel, warehouse.query(expand(panel["targets"][0]["rawSql"], time_range, variables)))
                )
            except WarehouseError as error:
                results.append(PanelResult(panel, error=str(error)))
        boards[name] = (board, results)
    return boards


def write_report(
    warehouse: Warehouse,
    start: datetime,
    end: datetime,
    out: Path,
    settings: GrafanaSettings,
    source: str = "",
    names: Sequence[str] = DASHBOARDS,
) -> ReportSummary:
    """Writes the report of the dashboards `names` from `start` to `end` (UTC if naive) to
    `out`, the interval chosen from the range, the boards built with `settings`; returns what
    it holds."""
    unknown = sorted(set(names) - set(DASHBOARDS))
    if unknown or not names:
        raise ValueError(f"the report shows {', '.join(DASHBOARDS)}, not {', '.join(unknown) or 'nothing'}")
    start, end = (moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment for moment in (start, end))
    if end <= start:
        raise ValueError(f"the report's range ends ({end.isoformat()}) at or before it starts ({start.isoformat()})")
    boards, text = _report(warehouse, TimeRange(start, end, interval_for(start, end)), settings, source, names)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    panels = [item for _, results in boards.values() for item in results if item.panel["type"] != "row"]
    return ReportSummary(
        out,
        len(panels),
        sum(1 for item in panels if item.rows),
        tuple(item.panel["title"] for item in panels if item.error),
        len(text.encode()),
    )


def _report(
    warehouse: Warehouse, time_range: TimeRange, settings: GrafanaSettings, source: str, names: Sequence[str]
) -> tuple[dict[str, tuple[dict, list[PanelResult]]], str]:
    boards = run_panels(warehouse, time_range, settings, names)
    return boards, _html(boards, time_range, _engine(warehouse, source), _zone(warehouse))


def _engine(warehouse: Warehouse, source: str) -> str:
    row = warehouse.query("SELECT version(), currentDatabase()").rows[0]
    return f"{source + ', ' if source else ''}ClickHouse {row[0]}, database {row[1]}"


def _zone(warehouse: Warehouse) -> ZoneInfo:
    """The session time zone: DateTime values without their own zone are shown in it."""
    return ZoneInfo(warehouse.query("SELECT timezone()").rows[0][0])


def time_series(result: QueryResult, zone: ZoneInfo) -> dict[str, list[tuple[float, float | None]]]:
    """A time-series panel's rows as series, as the ClickHouse plugin turns a long frame into
    series: first column the time, one series per text label combination and value column."""
    values = [i for i, kind in enumerate(result.types) if i and NUMERIC.match(kind)]
    labels = [i for i in range(1, len(result.columns)) if i not in values]
    time_zone = ZONE_OF_TYPE.search(result.types[0])
    time_zone = ZoneInfo(time_zone.group(1)) if time_zone else zone
    series: dict[str, list[tuple[float, float | None]]] = {}
    for row in result.rows:
        at = _moment(row[0], time_zone).timestamp()
        tag = " / ".join(str(row[i]) for i in labels)
        for i in values:
            name = tag if tag and len(values) == 1 else " ".join(filter(None, (result.columns[i], tag)))
            series.setdefault(name, []).append((at, None if row[i] is None else float(row[i])))
    return series


def _moment(value: str | datetime, zone: ZoneInfo) -> datetime:
    """A DateTime value, text from chdb or a datetime from the server's driver, in `zone`
    unless it carries its own."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _html(boards: dict[str, tuple[dict, list[PanelResult]]], time_range: TimeRange, engine: str, zone: ZoneInfo) -> str:
    stamp = "%Y-%m-%d %H:%M"
    span = f"{time_range.start.astimezone(UTC):{stamp}} to {time_range.end.astimezone(UTC):{stamp}} UTC"
    interval = format_value(time_range.interval_s, "s")
    header = (
        f"<header><h1>Shenzhen border crossings: report</h1><dl>"
        f'<dt>Time range</dt><dd id="time-range">{span} (interval {interval})</dd>'
        f'<dt>Generated at</dt><dd id="generated-at">{datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC</dd>'
        f'<dt>Warehouse</dt><dd id="warehouse">{escape(engine)}</dd></dl></header>'
    )
    sections = [_board(board, results, time_range, zone) for board, results in boards.values()]
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">"
        f"<title>Crossings report {escape(span)}</title><style>{STYLE}</style></head>"
        f"<body>{header}{''.join(sections)}</body></html>\n"
    )


def _board(board: dict, results: list[PanelResult], time_range: TimeRange, zone: ZoneInfo) -> str:
    parts = [
        f'<section class="dashboard" id="{escape(board["uid"])}"><h2>{escape(board["title"])}</h2>'
        f'<p class="description">{escape(board.get("description", ""))}</p><div class="grid">'
    ]
    for item in results:
        panel = item.panel
        if panel["type"] == "row":
            parts.append(f'<h3 class="row">{escape(panel["title"])}</h3>')
            continue
        width = panel["gridPos"]["w"]
        parts.append(
            f'<article class="panel" id="panel-{escape(board["uid"])}-{panel["id"]}" '
            f'data-type="{escape(panel["type"])}" data-rows="{item.rows}" style="grid-column: span {width}">'
            f"<h4>{escape(panel['title'])}</h4>{_body(item, width, time_range, zone)}</article>"
        )
    parts.append("</div></section>")
    return "".join(parts)


def _body(item: PanelResult, width: int, time_range: TimeRange, zone: ZoneInfo) -> str:
    panel, result = item.panel, item.result
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
    if item.error is not None:
        return f'<p class="error">query failed: {escape(item.error)}</p>'
    if panel["type"] == "timeseries":
        values = [name for name, kind in zip(result.columns[1:], result.types[1:]) if NUMERIC.match(kind)]
        domain = (time_range.start.timestamp(), time_range.end.timestamp())
        return line_chart(
            panel["title"],
            time_series(result, zone),
            domain,
            unit=unit,
            y_label=(values[0] if len(values) == 1 else "value") + AXIS_UNITS.get(unit, ""),
            width=round(PAGE_WIDTH * width / 24) - 24,
        )
    if not result.rows:
        return '<p class="no-data">no data</p>'
    if panel["type"] == "stat":
        return _stat(result, unit)
    return _table(result)


def _stat(result: QueryResult, unit: str) -> str:
    """The last non-null value of the first numeric column (the panels' lastNotNull)."""
    column = next((i for i, kind in enumerate(result.types) if NUMERIC.match(kind)), None)
    values = [row[column] for row in result.rows if column is not None and row[column] is not None]
    if not values:
        return '<p class="no-data">no data</p>'
    return (
        f'<div class="stat" data-value="{escape(str(values[-1]))}">{escape(format_value(float(values[-1]), unit))}'
        f'</div><p class="caption">{escape(result.columns[column])}</p>'
    )


def _table(result: QueryResult) -> str:
    numeric = [bool(NUMERIC.match(kind)) for kind in result.types]
    head = "".join(f"<th>{escape(name)}</th>" for name in result.columns)
    rows = [
        "<tr>"
        + "".join(
            f'<td class="{"num" if is_number else "text"}">{escape(_cell(value, is_number))}</td>'
            for value, is_number in zip(row, numeric)
        )
        + "</tr>"
        for row in result.rows[:TABLE_ROWS]
    ]
    more = (
        f'<p class="caption">first {TABLE_ROWS} of {len(result.rows)} rows</p>' if len(result.rows) > TABLE_ROWS else ""
    )
    return (
        f'<table class="data" data-rows="{len(result.rows)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>{more}"
    )


def _cell(value: object, is_number: bool) -> str:
    """Integers in full, fractions to three significant digits, NULL as such."""
    if value is None:
        return "NULL"
    if is_number and not float(value).is_integer():
        return format_value(float(value))
    return str(value)


STYLE = """
body { font-family: sans-serif; margin: 24px auto; max-width: 1368px; padding: 0 24px; color: #222;
       background: #f4f5f5; }
header dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0 0 16px; }
header dt { font-weight: bold; } header dd { margin: 0; }
h2 { margin: 28px 0 4px; } .description { margin: 0 0 8px; color: #555; }
.grid { display: grid; grid-template-columns: repeat(24, 1fr); gap: 12px; }
h3.row { grid-column: 1 / -1; margin: 12px 0 0; font-size: 15px; border-bottom: 1px solid #ccc; }
.panel { background: #fff; border: 1px solid #ddd; border-radius: 4px; padding: 8px 12px; min-width: 0;
         overflow-x: auto; }
.panel h4 { margin: 0 0 8px; font-size: 14px; }
svg.chart { display: block; max-width: 100%; height: auto; }
.stat { font-size: 44px; font-weight: bold; color: #3274d9; padding: 16px 0 4px; }
.caption { color: #666; font-size: 12px; margin: 4px 0; }
.no-data { color: #888; font-size: 16px; text-align: center; padding: 24px 0; }
.error { color: #c4162a; white-space: pre-wrap; font-size: 12px; }
table.data { border-collapse: collapse; font-size: 12px; width: 100%; }
table.data th, table.data td { border-bottom: 1px solid #eee; padding: 3px 6px; text-align: left; }
table.data td.num { text-align: right; font-variant-numeric: tabular-nums; }
"""
