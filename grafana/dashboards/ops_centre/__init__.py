"""Ops centre: live throughput and clearance per port against their alert thresholds, alert
episodes (annotations and the open ones), pipeline health; a port variable, and links from
each port to its port_detail board."""

from grafana.dashboards.ops_centre import clearance, episodes, health, throughput
from grafana.panels import PORT_DETAIL_UID, dashboard_link

UID = "crossings-ops-centre"
TITLE = "Crossings: ops centre"
DESCRIPTION = ("Live crossings per minute and clearance percentiles per port against their alert "
               "thresholds, alert episodes, dead letters and pipeline freshness.")
VARIABLES = throughput.FILTERS
ANNOTATIONS = (episodes.annotation(),)
LINKS = (dashboard_link("Port detail", PORT_DETAIL_UID),)
ROWS = (throughput, clearance, health)
REFRESH = "30s"
TIME_FROM = "now-3h"
