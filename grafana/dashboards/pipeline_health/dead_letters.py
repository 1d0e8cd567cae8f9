"""Dead letters, rows ClickHouse refused, alert deliveries."""

from grafana.dashboards.pipeline_health.flow import per_second
from grafana.panels import prometheus_panel, thresholds

TITLE = "Dead letters and deliveries"
LOADED = "crossings_loader_rows_loaded_total"
DEAD_LETTERS = LOADED + '{table="dead_letters"}'


def panels(settings):
    return [
        prometheus_panel("timeseries", "Dead letters loaded per minute",
                         f"60 * {per_second(DEAD_LETTERS, 'table')}",
                         legend="{{table}}", unit="short", width=8),
        thresholds(
            prometheus_panel("timeseries", "Dead-letter share of the events loaded",
                             f'sum(rate({LOADED}{{table="dead_letters"}}[$__rate_interval])) / '
                             f'(sum(rate({LOADED}{{table=~"crossings|dead_letters"}}[$__rate_interval])) > 0)',
                             legend="dead letters", unit="percentunit", width=8,
                             description="dead letters / (clean crossings + dead letters) loaded"),
            (0.01, "orange"), (0.05, "red"),
        ),
        prometheus_panel("timeseries", "Rows refused by ClickHouse per minute",
                         f"60 * {per_second('crossings_loader_rejected_rows_total', 'table')}",
                         legend="{{table}}", unit="short", width=8),
        prometheus_panel("timeseries", "Alert deliveries per minute per receiver",
                         f"60 * {per_second('crossings_dispatcher_deliveries_total', 'receiver')}",
                         legend="{{receiver}}", unit="short", width=12),
        thresholds(
            prometheus_panel("timeseries", "Failed alert deliveries per minute per receiver",
                             f"60 * {per_second('crossings_dispatcher_failed_deliveries_total', 'receiver')}",
                             legend="{{receiver}}", unit="short", width=12),
            (1e-9, "red"),
        ),
    ]
