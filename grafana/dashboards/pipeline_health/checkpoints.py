"""The Flink job: running, and its checkpoints."""

from grafana.panels import prometheus_panel, thresholds

TITLE = "Flink job and checkpoints"


def panels(settings):
    return [
        thresholds(
            prometheus_panel("stat", "Running Flink jobs", "sum(flink_jobmanager_numRunningJobs)", unit="short",
                             width=4, description="red when no job runs"),
            (1, "green"), base="red",
        ),
        prometheus_panel("timeseries", "Completed checkpoints per minute",
                         "60 * sum by (job_name) (rate(flink_jobmanager_job_numberOfCompletedCheckpoints"
                         "[$__rate_interval]))",
                         legend="{{job_name}}", unit="short", width=10),
        prometheus_panel("timeseries", "Last checkpoint duration",
                         "max by (job_name) (flink_jobmanager_job_lastCheckpointDuration)",
                         legend="{{job_name}}", unit="ms", width=10),
    ]
