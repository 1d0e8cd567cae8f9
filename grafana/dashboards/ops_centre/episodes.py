"""Alert episodes (the `alerts` table: one raised and one resolved row each): the open ones,
and every episode of the range as an annotation on the board's time series."""

from grafana.dashboards.ops_centre.throughput import FILTERS
from grafana.panels import ClickHouseAnnotation, panel_sql

EPISODE = ["any(port_code) AS port_code", "any(kind) AS kind", "any(direction) AS direction",
           "argMax(severity, version) AS severity"]
OPEN = "countIf(state = 'resolved') = 0"

# the alias port_code shadows the column: the port filter names alerts.port_code
OPEN_EPISODES = panel_sql(
    "alerts",
    ["episode_id", *EPISODE, "min(started_at) AS raised_at", "max(peak_p90_s) AS peak_p90_s",
     "any(threshold_s) AS threshold_s"],
    final=True, filters=FILTERS, filter_table="alerts", group_by=["episode_id"], having=OPEN, order_by=["raised_at"])



def annotation(filters: tuple[str, ...] = FILTERS) -> ClickHouseAnnotation:
    """Every episode overlapping the range, from raised to resolved (open ones at their start),
    at the ports of `filters`' variables."""
    return ClickHouseAnnotation("Clearance alert episodes", panel_sql(
        "alerts",
        ["min(started_at) AS time", "max(ended_at) AS timeEnd",
         "concat('Clearance spike at ', any(port_code), ' (', any(kind), ', ', any(direction), ')') AS title",
         f"concat(if({OPEN}, 'open', 'resolved'), ': peak p90 ', toString(round(max(peak_p90_s))), ' s against ', "
         "toString(any(threshold_s)), ' s') AS text",
         "concat(any(port_code), ',', any(kind), ',', argMax(severity, version)) AS tags"],
        final=True, filters=filters, filter_table="alerts", group_by=["episode_id"],
        # episodes overlapping the range: raised before its end, open or resolved after its start
        having=f"time <= $__toTime AND ({OPEN} OR timeEnd >= $__fromTime)", order_by=["time"]))
