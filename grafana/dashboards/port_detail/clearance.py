"""Clearance percentiles over time and the distribution of clearance times."""

from grafana.panels import panel, panel_sql

TITLE = "Clearance"
FILTERS = ("port", "kind", "direction")


def panels(settings):
    percentiles = [f"sum(p{p}_s * crossings) / sum(crossings) AS p{p}_s" for p in (50, 90, 99)]
    return [
        panel("timeseries", "Clearance p50 / p90 / p99 (crossings-weighted windows)",
              panel_sql("clearance_windows", percentiles, time_column="window_start", bucket=True, final=True,
                        filters=FILTERS, where=["crossings > 0"]),
              unit="s", width=14, height=9),
        panel("table", "Clearance distribution (crossings per started minute of clearance)",
              panel_sql("crossings", ["toUInt32(intDiv(clearance_s, 60)) AS clearance_minute",
                                      "uniqExact(event_id) AS crossings"],
                        time_column="released_at", final=True, filters=FILTERS,
                        group_by=["clearance_minute"], order_by=["clearance_minute"]),
              unit="short", width=10, height=9),
    ]
