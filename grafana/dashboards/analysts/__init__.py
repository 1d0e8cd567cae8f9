"""Analysts: daily totals in the warehouse against the HK Immigration Department's statistics."""

from grafana.dashboards.analysts import daily, reconciliation

UID = "crossings-analysts"
TITLE = "Crossings: analysts"
DESCRIPTION = ("Crossings per Shenzhen local day against the HK daily passenger statistics "
               "(official_daily_traffic, loaded by crossings load-statistics).")
ROWS = (daily, reconciliation)
TIME_FROM = "now-30d"
TIMEZONE = "Asia/Shanghai"  # days on the axis are Shenzhen local days wherever the board is read
