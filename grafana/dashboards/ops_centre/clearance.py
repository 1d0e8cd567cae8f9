"""Clearance p50 / p90 / p99 per port, from the job's sliding 5-minute windows."""

from grafana.panels import panel, panel_sql

TITLE = "Clearance"


def percentile(p: int, group_by: list[str]) -> str:
    """Window percentile `p` of clearance_windows for each `group_by`, crossings-weighted over
    the other dimensions (kinds, directions) and the windows of a bucket."""
    return panel_sql("clearance_windows", [*group_by, f"sum(p{p}_s * crossings) / sum(crossings) AS p{p}_s"],
                     time_column="window_start", bucket=True, final=True, where=["crossings > 0"],
                     group_by=group_by, order_by=group_by)


def panels():
    return [panel("timeseries", f"Clearance p{p} per port", percentile(p, ["port_code"]), unit="s", width=8)
            for p in (50, 90, 99)]
