"""Freight: truck crossings by port and direction, diversion away from Huanggang, customs decisions."""

from grafana.dashboards.freight import customs, diversion, trucks

UID = "crossings-freight"
TITLE = "Crossings: freight"
DESCRIPTION = ("Truck crossings per port and direction, the share of Huanggang against Liantang and "
               "Shenzhen Bay, and the customs decision mix.")
ROWS = (trucks, diversion, customs)
REFRESH = "1m"
TIME_FROM = "now-7d"
