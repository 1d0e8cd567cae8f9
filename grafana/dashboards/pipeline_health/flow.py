"""Records per second through the Flink job and the loader."""

from grafana.panels import prometheus_panel

TITLE = "Records in and out"
# title, counter, the label it is summed per
COUNTERS = (
    ("Flink records in per second per task", "flink_taskmanager_job_task_operator_numRecordsIn", "task_name"),
    ("Flink records out per second per task", "flink_taskmanager_job_task_operator_numRecordsOut", "task_name"),
    ("Loader records read per second per topic", "crossings_loader_records_read_total", "topic"),
    ("Rows loaded into ClickHouse per second per table", "crossings_loader_rows_loaded_total", "table"),
)


def per_second(metric: str, by: str) -> str:
    """The per-second rate of the counter `metric`, summed per `by` label."""
    return f"sum by ({by}) (rate({metric}[$__rate_interval]))"


def panels(settings):
    return [prometheus_panel("timeseries", title, per_second(metric, by), legend=f"{{{{{by}}}}}", unit="short")
            for title, metric, by in COUNTERS]
