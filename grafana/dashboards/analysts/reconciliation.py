"""Traveller crossings in the warehouse against the HK statistics per day (the join of
sql/queries/reconciliation.sql, without the replay scale: the ratio is the scale the
warehouse shows, e.g. 0.1 after a replay at --scale 0.1)."""

from grafana.dashboards.analysts.daily import LOCAL_DAY
from grafana.panels import panel, panel_sql

TITLE = "Against the HK statistics"


# the join keys as plain Strings on both sides (Nullable / LowCardinality differ)
OFFICIAL_KEYS = {"port_code": "assumeNotNull(port_code) AS port_code", "direction": "toString(direction) AS direction"}
WAREHOUSE_KEYS = {"port_code": "toString(port_code) AS port_code", "direction": "toString(direction) AS direction"}


def joined(keys: list[str]) -> str:
    """Official travellers FULL OUTER JOIN the warehouse's traveller crossings, per day and `keys`."""
    names = ["day", *keys]
    official = panel_sql("official_daily_traffic",
                         ["day", *(OFFICIAL_KEYS[key] for key in keys), "sum(travellers) AS official"],
                         local_date_column="day", final=True, where=["official_daily_traffic.port_code IS NOT NULL"], group_by=names)
    warehouse = panel_sql("crossings_daily",
                          ["day", *(WAREHOUSE_KEYS[key] for key in keys), "uniqExactMerge(crossings) AS warehouse"],
                          local_date_column="day", where=["kind = 'traveller'"], group_by=names)
    return f"({official}) AS o\nFULL OUTER JOIN ({warehouse}) AS w USING ({', '.join(names)})"


RATIO = "if(official = 0, NULL, warehouse / official) AS ratio"


def panels(settings):
    return [
        panel("timeseries", "Travellers per local day: HK statistics and warehouse",
              panel_sql(joined([]), [LOCAL_DAY, "official", "warehouse"], order_by=["time"]),
              unit="short", width=12),
        panel("table", "Per day, port and direction: HK statistics, warehouse, ratio",
              panel_sql(joined(["port_code", "direction"]), ["day", "port_code", "direction", "official",
                                                             "warehouse", RATIO],
                        order_by=["day", "port_code", "direction"]),
              unit="short", width=12),
    ]
