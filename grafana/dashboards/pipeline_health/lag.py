"""Consumer lag of the loader and the dispatcher, freshness of each table, insert latency."""

from grafana.panels import prometheus_panel, thresholds

TITLE = "Lag and freshness"


def panels(settings):
    red = (settings.freshness_red_s, "red")
    return [
        thresholds(
            prometheus_panel("stat", "Freshness of crossings", 'max(crossings_loader_freshness_seconds{table="crossings"})',
                             unit="s", width=4,
                             description=f"now minus the newest crossing loaded; red past {red[0]} s "
                             "(GRAFANA_FRESHNESS_RED_S)"),
            red,
        ),
        thresholds(
            prometheus_panel("timeseries", "Freshness per table", "max by (table) (crossings_loader_freshness_seconds)",
                             legend="{{table}}", unit="s", width=10,
                             description="now minus the newest event loaded into each table"),
            red,
        ),
        prometheus_panel("timeseries", "Loader consumer lag per topic", "max by (topic) (crossings_loader_consumer_lag)",
                         legend="{{topic}}", unit="short", width=10,
                         description="records in Kafka not yet inserted into ClickHouse"),
        prometheus_panel("timeseries", "Dispatcher consumer lag per topic",
                         "max by (topic) (crossings_dispatcher_consumer_lag)", legend="{{topic}}", unit="short",
                         width=12),
        prometheus_panel("timeseries", "ClickHouse insert p90 per table",
                         "histogram_quantile(0.9, sum by (table, le) "
                         "(rate(crossings_loader_insert_seconds_bucket[$__rate_interval])))",
                         legend="{{table}}", unit="s", width=12),
    ]
