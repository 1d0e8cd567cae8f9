"""The Grafana alert rules, as code: their SQL (from `panel_sql`) and the file-provisioning
document `crossings grafana build` writes to grafana/provisioning/alerting/rules.yaml.

Each rule is Grafana's usual pipeline: A, a raw-SQL table query of the ClickHouse data source
returning one numeric column (the value) and string columns (the labels: one series per
row); B, a reduce expression (last) of A; C, a threshold expression on B, the rule's condition.

The rule SQL holds no `$`: Grafana interpolates environment variables (`$NAME`) in
provisioning files, so the plugin's macros (`$__timeFilter` ...) would be blanked. The rules
measure back from `now()` instead (the evaluation time); `now` is a parameter so that tests
can run the same SQL at a fixed instant. `relativeTimeRange` spans the same look-back.

1. Clearance spike: per port and kind, the p90 of the newest 5-minute window of
   clearance_windows (crossings-weighted over directions) divided by that port's threshold
   for that kind (`clearance_threshold_s` of schemas/ports.toml, joined as a VALUES literal
   built here); fires above 1. A window of fewer than MIN_WINDOW_CROSSINGS crossings counts
   as 0, as in the job.
2. Pipeline stale: seconds from the newest crossing (released_at) to now, above 300, while
   at least one port is open. The gate is built from the registry's opening hours (local
   time, Asia/Shanghai): a port/kind open round the clock makes it always true (so today it
   is `1`, HUANGGANG and others being open 24 h); otherwise it is the union of the opening
   intervals, as minutes of the local day. When every port is closed the query returns no
   row and the rule is OK (noDataState OK).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml
from grafana_foundation_sdk.models.dashboard import DataSourceRef

from grafana.panels import DATASOURCE_TYPE, DATASOURCE_UID, ClickHouseQuery, panel_sql
from schemas.ports import MIDNIGHT, MIN_WINDOW_CROSSINGS, SHENZHEN_TZ, Port, load_ports

FOLDER = "Crossings"  # the dashboards' folder too (provisioning/dashboards/crossings.yaml)
GROUP = "crossings"
INTERVAL = "1m"
LABELS = {"team": "crossings"}
NOW = "now()"

# Where the rules notify: the contact point of provisioning/alerting/contact_points.yaml, grouped
# per port and kind. The provisioning file gives each rule these notification_settings (Grafana
# routes them itself, beside the organisation's policy tree, which a provisioned tree would
# replace); `crossings grafana push` adds ROUTE to the organisation's tree instead.
RECEIVER = "crossings-webhook"
NOTIFICATION_SETTINGS = {
    "receiver": RECEIVER,
    "group_by": ["grafana_folder", "alertname", "port_code", "kind"],
    "group_wait": "30s",
    "group_interval": "5m",
    "repeat_interval": "4h",
}
ROUTE = {
    "receiver": RECEIVER,
    "object_matchers": [["grafana_folder", "=", FOLDER]],
    **{key: value for key, value in NOTIFICATION_SETTINGS.items() if key != "receiver"},
}

CLEARANCE_LOOKBACK_S = 600  # windows ending in the last 10 minutes; the newest per port/kind counts
STALE_AFTER_S = 300
STALE_LOOKBACK_S = 3600  # no crossing in the last hour: max() is 1970, far above the threshold


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def thresholds_sql(ports: Iterable[Port] | None = None) -> str:
    """(port_code, kind, threshold_s) of every port and kind it clears, as a VALUES literal."""
    ports = load_ports() if ports is None else ports
    rows = [
        f"({_quote(port.code)}, {_quote(str(kind))}, {threshold})"
        for port in ports
        for kind, threshold in sorted(port.clearance_threshold_s.items())
    ]
    listed = ",\n  ".join(rows)
    return panel_sql(
        f"VALUES('port_code String, kind String, threshold_s Float64',\n  {listed})",
        ["port_code", "kind", "threshold_s"],
    )


def clearance_spike_sql(now: str = NOW, ports: Iterable[Port] | None = None) -> str:
    """Per port and kind: newest window p90 / threshold (`p90_over_threshold`), labels
    port_code, kind and threshold (seconds, as text)."""
    windows = panel_sql(
        "clearance_windows",
        [
            "port_code",
            "kind",
            "window_start",
            f"if(sum(crossings) >= {MIN_WINDOW_CROSSINGS}, sum(p90_s * crossings) / sum(crossings), 0) AS p90_s",
        ],
        final=True,
        where=["crossings > 0", f"window_end > {now} - INTERVAL {CLEARANCE_LOOKBACK_S} SECOND", f"window_end <= {now}"],
        group_by=["port_code", "kind", "window_start"],
    )
    return panel_sql(
        f"({windows}) AS windows\nINNER JOIN ({thresholds_sql(ports)}) AS thresholds USING (port_code, kind)",
        [
            "port_code",
            "kind",
            "toString(toUInt32(any(threshold_s))) AS threshold",
            "argMax(p90_s, window_start) / any(threshold_s) AS p90_over_threshold",
        ],
        group_by=["port_code", "kind"],
        order_by=["port_code", "kind"],
    )


def open_now_sql(now: str = NOW, ports: Iterable[Port] | None = None) -> str:
    """A SQL condition true when at least one port clears some kind at `now` (registry hours,
    local time); `1` if a port is open round the clock."""
    ports = load_ports() if ports is None else ports
    intervals = set()
    for port in ports:
        for hours in port.opening_hours.values():
            if hours is None:
                return "1"
            opens, closes = hours
            intervals.add(
                (opens.hour * 60 + opens.minute, 24 * 60 if closes == MIDNIGHT else closes.hour * 60 + closes.minute)
            )
    if not intervals:
        return "0"
    tz = _quote(str(SHENZHEN_TZ))
    minute = f"(toHour({now}, {tz}) * 60 + toMinute({now}, {tz}))"
    return (
        "(" + " OR ".join(f"({minute} >= {opens} AND {minute} < {closes})" for opens, closes in sorted(intervals)) + ")"
    )


def pipeline_stale_sql(now: str = NOW, ports: Iterable[Port] | None = None) -> str:
    """Seconds since the newest crossing (`seconds_since_newest_crossing`); no row while every
    port is closed (no HAVING when a port never closes)."""
    ports = list(load_ports() if ports is None else ports)
    return panel_sql(
        "crossings",
        [f"toFloat64(dateDiff('second', max(released_at), {now})) AS seconds_since_newest_crossing"],
        where=[f"released_at > {now} - INTERVAL {STALE_LOOKBACK_S} SECOND", f"released_at <= {now}"],
        having=None if (gate := open_now_sql(now, ports)) == "1" else gate,
    )


def _query(sql: str, lookback_s: int) -> dict[str, Any]:
    # a rule names its data source: dashboards' variables do not exist in alerting
    source = DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)
    model = ClickHouseQuery(sql, "table", datasource=source).to_json() | {"intervalMs": 60000, "maxDataPoints": 43200}
    return {
        "refId": "A",
        "relativeTimeRange": {"from": lookback_s, "to": 0},
        "datasourceUid": DATASOURCE_UID,
        "model": model,
    }


def _expression(ref_id: str, model: dict[str, Any]) -> dict[str, Any]:
    return {
        "refId": ref_id,
        "datasourceUid": "__expr__",
        "model": {"datasource": {"type": "__expr__", "uid": "__expr__"}, "refId": ref_id, **model},
    }


def rule(
    uid: str,
    title: str,
    sql: str,
    *,
    lookback_s: int,
    above: float,
    for_: str,
    severity: str,
    summary: str,
    description: str,
) -> dict[str, Any]:
    """A rule firing while the last value of each series of `sql` is above `above`."""
    return {
        "uid": uid,
        "title": title,
        "condition": "C",
        "data": [
            _query(sql, lookback_s),
            _expression("B", {"type": "reduce", "expression": "A", "reducer": "last", "settings": {"mode": "dropNN"}}),
            _expression(
                "C",
                {
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": {"type": "gt", "params": [above]}}],
                },
            ),
        ],
        "noDataState": "OK",
        "execErrState": "Error",
        "for": for_,
        "annotations": {"summary": summary, "description": description},
        "labels": LABELS | {"severity": severity},
        "isPaused": False,
    }


def rules() -> list[dict[str, Any]]:
    return [
        rule(
            "crossings-clearance-spike",
            "Clearance p90 above the port's threshold",
            clearance_spike_sql(),
            lookback_s=CLEARANCE_LOOKBACK_S,
            above=1,
            for_="5m",
            severity="warning",
            summary="Clearance p90 at {{ .Labels.port_code }} ({{ .Labels.kind }}) above {{ .Labels.threshold }} s",
            description="The newest 5-minute window's p90 clearance, divided by the port's "
            "clearance_threshold_s (schemas/ports.toml), is above 1.",
        ),
        rule(
            "crossings-pipeline-stale",
            "Pipeline stale: no new crossings",
            pipeline_stale_sql(),
            lookback_s=STALE_LOOKBACK_S,
            above=STALE_AFTER_S,
            for_="1m",
            severity="critical",
            summary="No new crossing for more than 5 minutes while a port is open",
            description="Seconds since the newest released_at in crossings exceed 300 during the "
            "registry's opening hours: check the simulator/Kafka, the job and the loader.",
        ),
    ]


def document() -> dict[str, Any]:
    """The alerting file-provisioning document (apiVersion 1) of the rules, each notifying
    RECEIVER through its notification_settings."""
    routed = [rule | {"notification_settings": NOTIFICATION_SETTINGS} for rule in rules()]
    return {
        "apiVersion": 1,
        "groups": [{"orgId": 1, "name": GROUP, "folder": FOLDER, "interval": INTERVAL, "rules": routed}],
    }


class _Dumper(yaml.SafeDumper):
    pass


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _string)

HEADER = (
    "# Generated by `crossings grafana build` from grafana/alerts.py (SQL from grafana/panels.py's\n"
    "# panel_sql): do not edit. Unified alerting file provisioning, read by Grafana at start-up.\n"
)


def render_rules() -> str:
    return HEADER + yaml.dump(document(), Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)
