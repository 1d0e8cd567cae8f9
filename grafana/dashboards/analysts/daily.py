"""Crossings per Shenzhen local day, from the daily rollup (distinct event ids)."""

from grafana.panels import panel, panel_sql

TITLE = "Daily totals"
LOCAL_DAY = "toDateTime(day, 'Asia/Shanghai') AS time"


def panels():
    return [
        panel("timeseries", "Crossings per local day and kind",
              panel_sql("crossings_daily", [LOCAL_DAY, "kind", "uniqExactMerge(crossings) AS crossings"],
                        date_column="day", group_by=["time", "kind"], order_by=["time", "kind"]),
              width=12),
        panel("table", "Crossings per local day, port and direction",
              panel_sql("crossings_daily", ["day", "port_code", "direction", "kind",
                                            "uniqExactMerge(crossings) AS crossings"],
                        date_column="day", group_by=["day", "port_code", "direction", "kind"],
                        order_by=["day", "port_code", "direction", "kind"]),
              width=12),
    ]
