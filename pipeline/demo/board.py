"""The demo's live terminal board: what the ops centre dashboard shows, from its own panel
queries (grafana/dashboards/ops_centre), expanded for the simulated clock and drawn with rich.

Event-time panels (throughput, clearance, freshness) run over the simulated period up to the
simulator's clock; the reconciliation counts, stamped with the minute they were received,
over the real time the demo has run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from connectors.clickhouse import Warehouse
from grafana.dashboards.ops_centre import clearance, forecast, health, throughput
from grafana.macros import TimeRange, expand
from grafana.panels import every_value
from schemas.ports import SHENZHEN_TZ, load_ports

MINUTE_S = 60
P90_BY_PORT = clearance.percentile(90, ["port_code"])
COUNT_COLUMNS = ("received", "clean", "dead_letters", "duplicates", "too_late")


@dataclass
class PortLine:
    code: str
    name: str
    crossings: int = 0
    per_minute: float | None = None  # in the newest minute with a window
    p90_s: float | None = None  # of the newest clearance bucket
    alerting: bool = False


@dataclass
class Snapshot:
    """One refresh of the board."""

    sim_now: datetime
    speed: float
    produced: int
    elapsed_s: float
    consumer_lag: int
    ports: list[PortLine]
    open_alerts: list[dict]
    counts: dict[str, int]
    early_warnings: list[dict]  # open ones, with their diversion advice
    freshness_s: float | None
    notes: list[str] = field(default_factory=list)


def _rows(warehouse: Warehouse, sql: str, time_range: TimeRange) -> list[dict]:
    return warehouse.query(expand(sql, time_range, every_value())).dicts()  # every port


def take_snapshot(
    warehouse: Warehouse,
    period_start: datetime,
    sim_now: datetime,
    wall_start: datetime,
    wall_now: datetime,
    *,
    speed: float,
    produced: int,
    consumer_lag: int,
) -> Snapshot:
    """The board's figures from the warehouse, as of the simulator's clock `sim_now`."""
    simulated = TimeRange(period_start, max(sim_now, period_start + timedelta(seconds=1)), interval_s=MINUTE_S)
    wall = TimeRange(wall_start - timedelta(minutes=1), wall_now + timedelta(minutes=1), interval_s=MINUTE_S)
    ports = {port.code: PortLine(port.code, port.name_en) for port in load_ports()}
    for row in _rows(warehouse, throughput.PER_PORT_PER_MINUTE, simulated):
        line = ports[row["port_code"]]
        line.crossings += round(row["crossings_per_minute"])  # one-minute buckets: per minute = in the bucket
        line.per_minute = row["crossings_per_minute"]
    for row in _rows(warehouse, P90_BY_PORT, simulated):
        ports[row["port_code"]].p90_s = row["p90_s"]
    open_alerts = _rows(warehouse, health.OPEN_EPISODES, simulated)
    early_warnings = [row for row in _rows(warehouse, forecast.EARLY_WARNINGS, simulated) if not row["resolved_at"]]
    for alert in open_alerts:
        ports[alert["port_code"]].alerting = True
    counts_rows = _rows(warehouse, health.RECORD_COUNTS, wall)
    counts = {name: int(counts_rows[0][name] or 0) if counts_rows else 0 for name in COUNT_COLUMNS}
    freshness = _rows(warehouse, health.FRESHNESS, simulated)
    freshness_s = freshness[0]["seconds_since_newest_event"] if freshness and counts["clean"] else None
    return Snapshot(
        sim_now=sim_now,
        speed=speed,
        produced=produced,
        elapsed_s=(wall_now - wall_start).total_seconds(),
        consumer_lag=consumer_lag,
        ports=list(ports.values()),
        open_alerts=open_alerts,
        counts=counts,
        early_warnings=early_warnings,
        freshness_s=freshness_s,
    )


def _minutes(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds / 60:.1f} min"


def _episodes(
    title: str, columns: tuple[str, ...], rows: list[dict], cells: Callable[[dict, str], tuple[str, ...]]
) -> Table:
    """A table of episodes: port, kind, direction, then `cells(row, raised)` (raised: local HH:MM)."""
    table = Table(title=f"{title}: {len(rows)}", expand=True)
    for column in ("port", "kind", "direction", *columns):
        table.add_column(column)
    for row in rows:
        raised = datetime.fromisoformat(row["raised_at"]).replace(tzinfo=UTC)  # stored in UTC
        table.add_row(
            row["port_code"], row["kind"], row["direction"], *cells(row, f"{raised.astimezone(SHENZHEN_TZ):%H:%M}")
        )
    return table


def render(snapshot: Snapshot) -> RenderableType:
    """The board: a heading, the ports, the open alerts and early warnings, and the pipeline's
    figures."""
    local = snapshot.sim_now.astimezone(SHENZHEN_TZ)
    heading = Text.assemble(
        ("Shenzhen border ports", "bold"),
        f"  simulated {local:%Y-%m-%d %H:%M} (Asia/Shanghai) at x{snapshot.speed:g}",
        f"  running {snapshot.elapsed_s:.0f} s",
    )
    ports = Table(title="Per port: the newest 1-minute window and 5-minute clearance", expand=True)
    for column, justify in (
        ("port", "left"),
        ("crossings/min", "right"),
        ("crossings so far", "right"),
        ("p90 clearance", "right"),
        ("alert", "left"),
    ):
        ports.add_column(column, justify=justify)
    for line in snapshot.ports:
        ports.add_row(
            line.name,
            "-" if line.per_minute is None else f"{line.per_minute:.0f}",
            f"{line.crossings:,}",
            _minutes(line.p90_s),
            Text("OPEN", style="bold red") if line.alerting else "",
        )
    alerts = _episodes(
        "Open alert episodes",
        ("severity", "raised (local)", "peak p90", "threshold"),
        snapshot.open_alerts,
        lambda alert, raised: (
            alert["severity"],
            raised,
            _minutes(alert["peak_p90_s"]),
            _minutes(alert["threshold_s"]),
        ),
    )
    warnings = _episodes(
        "Open early warnings (30-minute forecast)",
        ("raised (local)", "peak forecast", "threshold", "advice when raised"),
        snapshot.early_warnings,
        lambda warning, raised: (
            raised,
            _minutes(warning["peak_forecast_s"]),
            _minutes(warning["threshold_s"]),
            warning["advice"] or "",
        ),
    )
    counts = snapshot.counts
    fresh = (
        "-"
        if snapshot.freshness_s is None
        else (f"{_minutes(snapshot.freshness_s)} simulated = {snapshot.freshness_s / snapshot.speed:.1f} s real")
    )
    pipeline = Text.assemble(
        ("pipeline  ", "bold"),
        f"produced {snapshot.produced:,}  received {counts['received']:,}  clean {counts['clean']:,}  "
        f"dead letters {counts['dead_letters']:,}  duplicates {counts['duplicates']:,}  "
        f"late {counts['too_late']:,}  loader lag {snapshot.consumer_lag:,}  freshness {fresh}",
    )
    return Group(heading, ports, alerts, warnings, pipeline, *(Text(note, style="yellow") for note in snapshot.notes))
