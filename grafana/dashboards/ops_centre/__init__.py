"""Ops centre: live throughput and clearance per port, open alerts, pipeline health."""

from grafana.dashboards.ops_centre import clearance, health, throughput

UID = "crossings-ops-centre"
TITLE = "Crossings: ops centre"
DESCRIPTION = ("Live crossings per minute and clearance percentiles per port, open alert episodes, "
               "dead letters and pipeline freshness.")
ROWS = (throughput, clearance, health)
REFRESH = "30s"
TIME_FROM = "now-3h"
