"""Port detail: one or more ports, kinds and directions (template variables port, kind,
direction): clearance distribution, e-channel against manual counters, inspection modes."""

from grafana.dashboards.port_detail import channels, clearance, inspection

UID = "crossings-port-detail"
TITLE = "Crossings: port detail"
DESCRIPTION = ("Clearance distribution, e-channel against manual counters and inspection modes for "
               "the selected ports, kinds and directions.")
ROWS = (clearance, channels, inspection)
VARIABLES = clearance.FILTERS
REFRESH = "1m"
