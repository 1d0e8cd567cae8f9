"""Ops centre: live throughput and clearance per port against their alert thresholds, the
clearance forecast against the actual and the early warnings with their diversion advice, alert
episodes (annotations and the open ones), pipeline health; port and forecast horizon variables,
and links from each port to its port_detail board."""

from grafana.dashboards.ops_centre import clearance, episodes, forecast, health, throughput
from grafana.panels import PORT_DETAIL_UID, dashboard_link

UID = "crossings-ops-centre"
TITLE = "Crossings: ops centre"
DESCRIPTION = ("Live crossings per minute and clearance percentiles per port against their alert "
               "thresholds, the clearance forecast and early warnings, alert episodes, dead letters "
               "and pipeline freshness.")
VARIABLES = throughput.FILTERS
CHOICES = (forecast.HORIZON,)
ANNOTATIONS = (episodes.annotation(), forecast.ANNOTATION)
LINKS = (dashboard_link("Port detail", PORT_DETAIL_UID),)
ROWS = (throughput, clearance, forecast, health)
REFRESH = "30s"
TIME_FROM = "now-3h"
