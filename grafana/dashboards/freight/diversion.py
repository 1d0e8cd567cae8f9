"""Is freight moving away from Huanggang? Its share of the trucks at Huanggang, Liantang and
Shenzhen Bay (the logic of sql/queries/freight_diversion.sql, over the dashboard range)."""

from grafana.dashboards.freight.trucks import TRUCKS
from grafana.panels import panel, panel_sql

TITLE = "Diversion from Huanggang"
PORTS = {"huanggang": "HUANGGANG", "liantang": "LIANTANG", "shenzhen_bay": "SHENZHEN_BAY"}
THREE_PORTS = f"port_code IN ({', '.join(repr(code) for code in PORTS.values())})"
SHARES = [f"uniqExactIf(event_id, port_code = '{code}') / uniqExact(event_id) AS {name}_share"
          for name, code in PORTS.items()]


def panels(settings):
    return [
        panel("timeseries", "Share of the trucks at Huanggang, Liantang and Shenzhen Bay",
              panel_sql("crossings", SHARES, time_column="released_at", bucket=True, final=True,
                        where=[TRUCKS, THREE_PORTS]),
              unit="percentunit", width=16),
        panel("stat", "Huanggang share in range",
              panel_sql("crossings", SHARES[:1], time_column="released_at", final=True,
                        where=[TRUCKS, THREE_PORTS]),
              unit="percentunit", width=8),
    ]
