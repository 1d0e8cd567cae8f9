"""Clearance p50 / p90 / p99 per port, from the job's sliding 5-minute windows, against each
port's alert threshold (clearance_threshold_s of schemas/ports.toml)."""

from grafana.alerts import thresholds_sql
from grafana.dashboards.ops_centre.throughput import FILTERS
from grafana.panels import panel, panel_sql, port_detail_link, threshold_override, thresholds
from schemas.ports import load_ports

TITLE = "Clearance"


def percentile(p: int, group_by: list[str]) -> str:
    """Window percentile `p` of clearance_windows for each `group_by`, crossings-weighted over
    the other dimensions (kinds, directions) and the windows of a bucket."""
    return panel_sql("clearance_windows", [*group_by, f"sum(p{p}_s * crossings) / sum(crossings) AS p{p}_s"],
                     time_column="window_start", bucket=True, final=True, where=["crossings > 0"],
                     filters=FILTERS, group_by=group_by, order_by=group_by)


# p90 per port and kind over the port's threshold for that kind: above 1 is the alert's condition
OVER_THRESHOLD = panel_sql(
    f"({percentile(90, ['port_code', 'kind'])}) AS windows\n"
    f"INNER JOIN ({thresholds_sql()}) AS thresholds USING (port_code, kind)",
    ["time", "port_code", "kind", "p90_s / threshold_s AS p90_over_threshold"], order_by=["time", "port_code", "kind"])


def series(port: str, kind: str) -> str:
    """A regular expression matching the display name of the series of `port` and `kind`
    (labels port_code and kind, in whichever order Grafana shows them)."""
    return f"^(?=.*\\b{port}\\b)(?=.*\\b{kind}\\b).*$"


def with_port_thresholds(builder):
    """A time series of labels port_code and kind, each series with a dashed line at its port's
    threshold for its kind; a click on a line opens its port's detail board."""
    for port in load_ports():
        for kind, threshold in sorted(port.clearance_threshold_s.items()):
            builder = threshold_override(builder, series(port.code, str(kind)), threshold)
    return builder.data_links([port_detail_link("${__field.labels.port_code}")])


def p90_with_thresholds():
    """p90 per port and kind, each series with a dashed line at its port's threshold."""
    return with_port_thresholds(
        panel("timeseries", "Clearance p90 per port and kind (dashed: the port's alert threshold)",
              percentile(90, ["port_code", "kind"]), unit="s", width=8,
              description="clearance_threshold_s of schemas/ports.toml per port and kind"))


def panels(settings):
    return [
        panel("timeseries", "Clearance p50 per port", percentile(50, ["port_code"]), unit="s", width=8)
        .data_links([port_detail_link("${__field.labels.port_code}")]),
        p90_with_thresholds(),
        panel("timeseries", "Clearance p99 per port", percentile(99, ["port_code"]), unit="s", width=8)
        .data_links([port_detail_link("${__field.labels.port_code}")]),
        thresholds(
            panel("timeseries", "Clearance p90 over the port's alert threshold", OVER_THRESHOLD,
                  unit="percentunit", width=24, height=7,
                  description="above 100 % (red) for 5 minutes raises the clearance-spike alert"),
            (1, "red"),
        ).data_links([port_detail_link("${__field.labels.port_code}")]),
    ]
