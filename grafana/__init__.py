"""Grafana dashboards as code: panel SQL (`panels`), the ClickHouse plugin's macros
(`macros`), the dashboards (`dashboards`) and their generated JSON."""
