"""Pipeline health, from Prometheus: records through Flink and the loader, consumer lag and
freshness, checkpoints, dead letters and refused rows, alert deliveries. The metric names are
those of Flink's Prometheus reporter and of the loader's and dispatcher's exporters
(`crossings_loader_*`, `crossings_dispatcher_*`); alert episodes from ClickHouse as annotations."""

from grafana.dashboards.ops_centre import episodes
from grafana.dashboards.pipeline_health import checkpoints, dead_letters, flow, lag
from grafana.panels import PROMETHEUS, dashboard_link

UID = "crossings-pipeline-health"
TITLE = "Crossings: pipeline health"
DESCRIPTION = ("The pipeline's own metrics in Prometheus: records in and out of the Flink job and the "
               "loader, consumer lag, freshness, checkpoints, dead letters and alert deliveries.")
SOURCES = (PROMETHEUS,)
ANNOTATIONS = (episodes.annotation(filters=()),)
LINKS = (dashboard_link("Ops centre", "crossings-ops-centre"),)
ROWS = (flow, lag, checkpoints, dead_letters)
REFRESH = "30s"
TIME_FROM = "now-3h"
