"""Crossings per minute per port, from the job's 1-minute windows."""

from grafana.panels import panel, panel_sql, port_detail_link

TITLE = "Throughput"
FILTERS = ("port",)

PER_MINUTE = "sum(crossings) / greatest($__interval_s / 60, 1) AS crossings_per_minute"
PER_PORT_PER_MINUTE = panel_sql("throughput_windows", ["port_code", PER_MINUTE], time_column="window_start",
                                bucket=True, final=True, filters=FILTERS, group_by=["port_code"],
                                order_by=["port_code"])


def panels(settings):
    return [
        panel("timeseries", "Crossings per minute per port", PER_PORT_PER_MINUTE, unit="short", width=18, height=9,
              description="click a port's line for its port detail board")
        .data_links([port_detail_link("${__field.labels.port_code}")]),
        panel("stat", "Crossings in range",
              panel_sql("throughput_windows", ["sum(crossings) AS crossings"], time_column="window_start",
                        final=True, filters=FILTERS),
              unit="short", width=6, height=9),
    ]
