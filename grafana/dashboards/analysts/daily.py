"""Crossings per Shenzhen local day, from the daily rollup (distinct event ids): the rollup's
days are local (toDate(released_at, 'Asia/Shanghai')), the range selects the local days it
touches, and the board shows them in Shenzhen's time zone."""

from grafana.panels import LOCAL_ZONE, panel, panel_sql

TITLE = "Daily totals"
LOCAL_DAY = f"toDateTime(day, {LOCAL_ZONE}) AS time"


def panels(settings):
    return [
        panel("timeseries", "Crossings per local day and kind",
              panel_sql("crossings_daily", [LOCAL_DAY, "kind", "uniqExactMerge(crossings) AS crossings"],
                        local_date_column="day", group_by=["time", "kind"], order_by=["time", "kind"]),
              unit="short", width=12),
        panel("table", "Crossings per local day, port and direction",
              panel_sql("crossings_daily", ["day", "port_code", "direction", "kind",
                                            "uniqExactMerge(crossings) AS crossings"],
                        local_date_column="day", group_by=["day", "port_code", "direction", "kind"],
                        order_by=["day", "port_code", "direction", "kind"]),
              unit="short", width=12),
    ]
