"""Every panel query of every dashboard, expanded as Grafana and the ClickHouse plugin expand
it, on chdb over a small hand-made data set of its own day (2025-11-03, UTC): each runs, is
non-empty, and returns the columns its panel type needs. The alert rules' queries run on rows of
their own day (2025-11-04): one numeric value column, text label columns, the expected values."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from grafana.build import DASHBOARDS, render
from grafana.macros import ALL, TimeRange, dashboard_variables, expand

from .conftest import CROSSING_COLUMNS, DAY, EPISODE, STAMP

RANGE = TimeRange(DAY, DAY + timedelta(days=1), interval_s=300)
NUMERIC = re.compile(r"^(Nullable\()?(U?Int\d+|Float\d+|Decimal)")
TIME = re.compile(r"^(Nullable\()?DateTime")


def panel_queries():
    for name in DASHBOARDS:
        board = json.loads(render(name))
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                yield pytest.param(board, panel, target["rawSql"], id=f"{name}: {panel['title']}")


def run(warehouse, board, panel, sql, selection=None):
    result = warehouse.query(expand(sql, RANGE, dashboard_variables(board, selection)))
    assert result.rows, f"{panel['title']}: no rows"
    numeric = [c for c, t in zip(result.columns, result.types) if NUMERIC.match(t)]
    if panel["type"] == "timeseries":
        assert result.columns[0] == "time" and TIME.match(result.types[0]), (result.columns, result.types)
        assert numeric, result.types
    elif panel["type"] == "stat":
        assert numeric and len(result.rows) == 1, (result.columns, result.types)
    return result


@pytest.mark.parametrize(("board", "panel", "sql"), list(panel_queries()))
def test_every_panel_query_runs_and_fits_its_panel(data, board, panel, sql):
    run(data, board, panel, sql)


@pytest.mark.parametrize(
    ("board", "panel", "sql"), [p for p in panel_queries() if p.values[0]["uid"] == "crossings-port-detail"]
)
def test_port_detail_with_a_selection(data, board, panel, sql):
    result = run(data, board, panel, sql, {"port": ["HUANGGANG", "LIANTANG"], "kind": "truck", "direction": ALL})
    if "kind" in result.columns:
        assert {row[result.columns.index("kind")] for row in result.rows} == {"truck"}


def test_figures_on_the_fixture(data):
    def table(name, title, selection=None):
        board = json.loads(render(name))
        panel = next(p for p in board["panels"] if p["title"] == title)
        return run(data, board, panel, panel["targets"][0]["rawSql"], selection).dicts()

    assert table("freight", "Huanggang share in range") == [{"huanggang_share": 0.5}]
    mix = {r["decision"]: (int(r["trucks"]), r["share"]) for r in table("freight", "Customs decision mix")}
    assert mix == {"held": (1, 0.25), "inspected-released": (1, 0.25), "released": (2, 0.5)}
    reconciliation = table("analysts", "Per day, port and direction: HK statistics, warehouse, ratio")
    assert [(r["port_code"], r["direction"], int(r["official"]), int(r["warehouse"])) for r in reconciliation] == [
        ("LUOHU", "entry", 10, 1),
        ("LUOHU", "exit", 20, 2),
    ]
    channels = {
        r["channel_type"]: int(r["crossings"])
        for r in table("port_detail", "Clearance per channel type", {"port": "LUOHU"})
    }
    assert channels == {"e-channel": 2, "manual-counter": 1}
    open_episodes = table("ops_centre", "Open alert episodes (raised, not yet resolved)")
    assert EPISODE in {r["episode_id"] for r in open_episodes}


# The alert rules' queries, on rows of their own day (2025-11-04, UTC), evaluated at fixed
# instants (the rules measure back from now(); `now` is the builders' parameter).
ALERT_DAY = datetime(2025, 11, 4, tzinfo=UTC)
# port, kind, direction, window end (UTC hh:mm), crossings, p90 s
ALERT_WINDOWS = [
    ("HUANGGANG", "truck", "entry", "02:05", 30, 4200.0),
    ("HUANGGANG", "truck", "exit", "02:05", 10, 3000.0),  # weighted: (30 * 4200 + 10 * 3000) / 40 = 3900
    ("LUOHU", "traveller", "exit", "01:58", 20, 5000.0),  # older than the newest LUOHU window
    ("LUOHU", "traveller", "exit", "02:04", 20, 600.0),
    ("FUTIAN", "traveller", "exit", "01:50", 20, 9000.0),  # ended before the 10-minute look-back
    ("LIANTANG", "truck", "entry", "02:05", 2, 9000.0),  # two trucks: too few to judge, counts as 0
    ("LIANTANG", "truck", "exit", "02:05", 2, 9000.0),
]
ALERT_CROSSING = "02:00"


def _alert_at(hhmm: str) -> datetime:
    hour, minute = map(int, hhmm.split(":"))
    return ALERT_DAY + timedelta(hours=hour, minutes=minute)


def _now(hhmm: str) -> str:
    return f"toDateTime('{_alert_at(hhmm).strftime(STAMP)}', 'UTC')"


@pytest.fixture(scope="module")
def alert_data(data):
    released = _alert_at(ALERT_CROSSING)
    data.insert(
        "crossings",
        CROSSING_COLUMNS,
        [
            (
                str(uuid.uuid5(uuid.NAMESPACE_URL, "grafana-alerts/0")),
                1,
                "traveller",
                "LUOHU",
                "exit",
                "grafana-alerts-luohu",
                "e-channel",
                "two-site",
                (released - timedelta(seconds=90)).strftime(STAMP),
                (released - timedelta(seconds=10)).strftime(STAMP),
                released.strftime(STAMP),
                "grafana-alerts-ref-0",
                None,
                0,
                0,
            )
        ],
    )
    data.insert(
        "clearance_windows",
        [
            "window_start",
            "window_end",
            "port_code",
            "kind",
            "direction",
            "crossings",
            "mean_s",
            "p50_s",
            "p90_s",
            "p99_s",
            "max_s",
            "version",
        ],
        [
            (
                (_alert_at(end) - timedelta(minutes=5)).strftime(STAMP),
                _alert_at(end).strftime(STAMP),
                port,
                kind,
                direction,
                n,
                p90,
                p90,
                p90,
                p90,
                p90,
                1,
            )
            for port, kind, direction, end, n, p90 in ALERT_WINDOWS
        ],
    )
    return data


def alert_rows(warehouse, sql):
    """Runs a rule query as the data source would (macros expanded, none expected) and checks
    it is what a Grafana alert query needs: one numeric value column, the others text labels."""
    result = warehouse.query(expand(sql, RANGE))
    numeric = [c for c, t in zip(result.columns, result.types) if NUMERIC.match(t)]
    assert len(numeric) == 1, (result.columns, result.types)
    labels = [t for c, t in zip(result.columns, result.types) if c not in numeric]
    assert all(re.search(r"String", t) for t in labels), result.types
    return result


def committed_rules():
    from grafana.alerts import document

    for group in document()["groups"]:
        for rule in group["rules"]:
            yield pytest.param(rule["data"][0]["model"]["rawSql"], id=rule["uid"])


@pytest.mark.parametrize("sql", list(committed_rules()))
def test_committed_rule_queries_run(alert_data, sql):
    alert_rows(alert_data, sql)


def test_clearance_spike_rule_on_the_fixture(alert_data):
    from grafana.alerts import clearance_spike_sql

    result = alert_rows(alert_data, clearance_spike_sql(_now("02:05")))
    assert list(result.columns) == ["port_code", "kind", "threshold", "p90_over_threshold"]
    rows = {(r["port_code"], r["kind"]): (r["threshold"], r["p90_over_threshold"]) for r in result.dicts()}
    assert rows.keys() == {("HUANGGANG", "truck"), ("LIANTANG", "truck"), ("LUOHU", "traveller")}
    assert rows[("LIANTANG", "truck")][1] == 0  # 4 crossings over both directions: below MIN_WINDOW_CROSSINGS
    assert rows[("HUANGGANG", "truck")][0] == "3600"
    assert rows[("HUANGGANG", "truck")][1] == pytest.approx(3900 / 3600)  # fires (> 1)
    assert rows[("LUOHU", "traveller")] == ("1800", pytest.approx(600 / 1800))  # newest window only


def test_pipeline_stale_rule_on_the_fixture(alert_data):
    from grafana.alerts import pipeline_stale_sql
    from schemas.ports import load_ports

    def seconds(sql):
        return [r["seconds_since_newest_crossing"] for r in alert_rows(alert_data, sql).dicts()]

    assert seconds(pipeline_stale_sql(_now("02:03"))) == [180]  # below 300: OK
    assert seconds(pipeline_stale_sql(_now("02:10"))) == [600]  # fires
    luohu = [load_ports().get("LUOHU")]  # 06:30-24:00 local = 22:30-16:00 UTC
    assert seconds(pipeline_stale_sql(_now("02:10"), luohu)) == [600]
    assert seconds(pipeline_stale_sql(_now("20:00"), luohu)) == []  # closed: no row, the rule is OK
