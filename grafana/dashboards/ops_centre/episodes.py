"""Alert episodes (the `alerts` table: one raised and one resolved row each) of either type
(`episode_type`): `clearance`, a spike of the measured p90, and `forecast`, an early warning on
the 30-minute forecast (the forecast row's table). Here the open clearance episodes, and the
clearance episodes of the range as an annotation on the board's time series."""

from grafana.dashboards.ops_centre.throughput import FILTERS
from grafana.panels import ClickHouseAnnotation, panel_sql

CLEARANCE = "clearance"
FORECAST = "forecast"

KEY = ["any(port_code) AS port_code", "any(kind) AS kind", "any(direction) AS direction"]
EPISODE = [*KEY, "argMax(severity, version) AS severity"]
OPEN = "countIf(state = 'resolved') = 0"
# episodes overlapping the range: raised before its end, open or resolved after its start
IN_RANGE = f"min(started_at) <= $__toTime AND ({OPEN} OR max(ended_at) >= $__fromTime)"


def episodes_sql(
    episode_type: str, columns: list[str], *, filters: tuple[str, ...] = FILTERS, having: str, order_by: list[str]
) -> str:
    """One row per episode of `episode_type` (aggregates of its raised and resolved rows) at the
    ports of `filters`' variables; the alias port_code shadows the column, so the port filter
    names alerts.port_code."""
    return panel_sql("alerts", columns, final=True, filters=filters, filter_table="alerts",
                     where=[f"episode_type = '{episode_type}'"], group_by=["episode_id"], having=having,
                     order_by=order_by)


OPEN_EPISODES = episodes_sql(
    CLEARANCE,
    ["episode_id", *EPISODE, "min(started_at) AS raised_at", "max(peak_p90_s) AS peak_p90_s",
     "any(threshold_s) AS threshold_s"],
    having=OPEN, order_by=["raised_at"])


def annotation(
    name: str = "Clearance alert episodes",
    title: str = "Clearance spike",
    *,
    episode_type: str = CLEARANCE,
    peak: str = "p90",
    detail: str | None = None,
    icon_color: str = "red",
    filters: tuple[str, ...] = FILTERS,
) -> ClickHouseAnnotation:
    """Every episode of `episode_type` overlapping the range, from raised to resolved (open ones
    at their start), at the ports of `filters`' variables: `title` at the port (kind,
    direction); its state, `peak` and threshold, then `detail` (a String expression, '' when
    NULL) after a semicolon."""
    text = "' s against ', toString(any(threshold_s)), ' s'"
    if detail is not None:
        text += f", ifNull(concat('; ', {detail}), '')"
    return ClickHouseAnnotation(name, episodes_sql(
        episode_type,
        ["min(started_at) AS time", "max(ended_at) AS timeEnd",
         f"concat('{title} at ', any(port_code), ' (', any(kind), ', ', any(direction), ')') AS title",
         f"concat(if({OPEN}, 'open', 'resolved'), ': peak {peak} ', toString(round(max(peak_p90_s))), {text}) AS text",
         "concat(any(port_code), ',', any(kind), ',', argMax(severity, version)) AS tags"],
        filters=filters, having=IN_RANGE, order_by=["time"]), icon_color)
