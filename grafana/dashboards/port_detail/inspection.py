"""Inspection modes compared: joint-one-release against two-site and co-location."""

from grafana.dashboards.port_detail.channels import CLEARANCE_STATS
from grafana.dashboards.port_detail.clearance import FILTERS
from grafana.panels import panel, panel_sql

TITLE = "Inspection modes"


def panels(settings):
    return [
        panel("table", "Clearance per inspection mode and kind",
              panel_sql("crossings", ["inspection_mode", "kind", *CLEARANCE_STATS], time_column="released_at",
                        final=True, filters=FILTERS, group_by=["inspection_mode", "kind"],
                        order_by=["inspection_mode", "kind"]),
              unit="short", width=12),
        panel("timeseries", "Clearance p90 per inspection mode",
              panel_sql("crossings", ["inspection_mode", "quantileExactInclusive(0.9)(clearance_s) AS p90_s"],
                        time_column="released_at", bucket=True, final=True, filters=FILTERS,
                        group_by=["inspection_mode"], order_by=["inspection_mode"]),
              unit="s", width=12),
    ]
