"""E-channels against manual counters (and vehicle and freight lanes)."""

from grafana.dashboards.ops_centre.throughput import PER_MINUTE
from grafana.dashboards.port_detail.clearance import FILTERS
from grafana.panels import panel, panel_sql

TITLE = "E-channel against manual"
# exact percentiles interpolated between ranks, as the job and sql/queries compute them
CLEARANCE_STATS = ["uniqExact(event_id) AS crossings", "avg(clearance_s) AS mean_s",
                   "quantileExactInclusive(0.5)(clearance_s) AS p50_s",
                   "quantileExactInclusive(0.9)(clearance_s) AS p90_s"]


def panels(settings):
    return [
        panel("timeseries", "Crossings per minute per channel type",
              panel_sql("throughput_windows", ["channel_type", PER_MINUTE], time_column="window_start",
                        bucket=True, final=True, filters=FILTERS, group_by=["channel_type"],
                        order_by=["channel_type"]),
              unit="short", width=14),
        panel("table", "Clearance per channel type",
              panel_sql("crossings", ["channel_type", *CLEARANCE_STATS], time_column="released_at", final=True,
                        filters=FILTERS, group_by=["channel_type"], order_by=["channel_type"]),
              unit="short", width=10),
    ]
