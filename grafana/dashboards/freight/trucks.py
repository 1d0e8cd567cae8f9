"""Truck crossings by port and direction."""

from grafana.dashboards.ops_centre.throughput import PER_MINUTE
from grafana.panels import panel, panel_sql

TITLE = "Trucks"
TRUCKS = "kind = 'truck'"


def panels(settings):
    return [
        panel("timeseries", "Truck crossings per minute by port and direction",
              panel_sql("throughput_windows", ["port_code", "direction", PER_MINUTE], time_column="window_start",
                        bucket=True, final=True, where=[TRUCKS], group_by=["port_code", "direction"],
                        order_by=["port_code", "direction"]),
              unit="short", width=16, height=9),
        panel("table", "Truck crossings by port and direction",
              panel_sql("throughput_windows", ["port_code", "direction", "sum(crossings) AS trucks"],
                        time_column="window_start", final=True, where=[TRUCKS],
                        group_by=["port_code", "direction"], order_by=["port_code", "direction"]),
              unit="short", width=8, height=9),
    ]
