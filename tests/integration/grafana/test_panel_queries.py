"""Every ClickHouse query of every dashboard (panels and annotations), expanded as Grafana and
the ClickHouse plugin expand it, on chdb over a small hand-made data set of its own day
(2025-11-03, UTC): each runs, is non-empty, and returns the columns its panel type needs. The
alert rules' queries run on rows of their own day (2025-11-04): one numeric value column, text
label columns, the expected values. A simulated day (2025-11-05, run on 2025-11-20) and
Shenzhen's local days have tests of their own."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from grafana.build import DASHBOARDS, render
from grafana.macros import ALL, TimeRange, dashboard_variables, expand
from grafana.panels import DATASOURCE_TYPE
from grafana.settings import GrafanaSettings

from .conftest import CROSSING_COLUMNS, DAY, EPISODE, STAMP, crossing

SETTINGS = GrafanaSettings(_env_file=None)

RANGE = TimeRange(DAY, DAY + timedelta(days=1), interval_s=300)
NUMERIC = re.compile(r"^(Nullable\()?(U?Int\d+|Float\d+|Decimal)")
TIME = re.compile(r"^(Nullable\()?DateTime")


def board(name: str) -> dict:
    return json.loads(render(name, SETTINGS))


def panel_queries():
    for name in DASHBOARDS:
        loaded = board(name)
        for panel in loaded["panels"]:
            for target in panel.get("targets", []):
                if target["datasource"]["type"] == DATASOURCE_TYPE:  # not the Prometheus board's PromQL
                    yield pytest.param(loaded, panel, target["rawSql"], id=f"{name}: {panel['title']}")
        for annotation in loaded["annotations"].get("list", []):
            if annotation["datasource"]["type"] == DATASOURCE_TYPE:
                as_panel = {"title": annotation["name"], "type": "annotation"}
                yield pytest.param(loaded, as_panel, annotation["target"]["rawSql"], id=f"{name}: {annotation['name']}")


def run(warehouse, board, panel, sql, selection=None):
    result = warehouse.query(expand(sql, RANGE, dashboard_variables(board, selection)))
    assert result.rows, f"{panel['title']}: no rows"
    numeric = [c for c, t in zip(result.columns, result.types) if NUMERIC.match(t)]
    if panel["type"] == "timeseries":
        assert result.columns[0] == "time" and TIME.match(result.types[0]), (result.columns, result.types)
        assert numeric, result.types
    elif panel["type"] == "stat":
        assert numeric and len(result.rows) == 1, (result.columns, result.types)
    elif panel["type"] == "annotation":  # Grafana's annotation fields
        assert {"time", "timeEnd", "title", "text", "tags"} <= set(result.columns), result.columns
        assert TIME.match(result.types[result.columns.index("time")]), result.types
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
        loaded = board(name)
        panel = next(p for p in loaded["panels"] if p["title"] == title)
        return run(data, loaded, panel, panel["targets"][0]["rawSql"], selection).dicts()

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
    ops = board("ops_centre")
    [episodes] = [p for p in ops["panels"] if p["title"] == "Open alert episodes (raised, not yet resolved)"]
    at_luohu = expand(episodes["targets"][0]["rawSql"], RANGE, dashboard_variables(ops, {"port": "LUOHU"}))
    assert data.query(at_luohu).rows == []  # the port variable filters the episodes
    [counts] = table("ops_centre", "Records received in range: clean, dead letters, duplicates, too late")
    assert {key: int(value) for key, value in counts.items()} == {
        "received": 10,
        "clean": 9,
        "dead_letters": 1,
        "duplicates": 0,
        "too_late": 0,
    }
    over = table("ops_centre", "Clearance p90 over the port's alert threshold", {"port": "HUANGGANG"})
    # HUANGGANG trucks: 600 s and 1200 s windows against 3600 s
    assert sorted(round(r["p90_over_threshold"], 4) for r in over) == [round(600 / 3600, 4), round(1200 / 3600, 4)]


def annotations(warehouse, name, time_range=RANGE, selection=None):
    loaded = board(name)
    [annotation] = loaded["annotations"]["list"]
    sql = expand(annotation["target"]["rawSql"], time_range, dashboard_variables(loaded, selection))
    return warehouse.query(sql).dicts()


def test_alert_episodes_are_annotations_over_the_range(data):
    [episode] = annotations(data, "ops_centre")
    assert episode["title"] == "Clearance spike at HUANGGANG (truck, entry)"
    assert episode["text"] == "open: peak p90 1200 s against 900 s" and episode["timeEnd"] is None
    assert episode["tags"] == "HUANGGANG,truck,warning"
    assert annotations(data, "ops_centre", selection={"port": "LUOHU"}) == []
    assert annotations(data, "pipeline_health") == [episode]
    before = TimeRange(DAY - timedelta(days=1), DAY, interval_s=300)  # raised after this range
    assert annotations(data, "ops_centre", before) == []


SIMULATED_DAY = datetime(2025, 11, 5, tzinfo=UTC)
RUN_AT = datetime(2025, 11, 20, 9, 0, tzinfo=UTC)  # when the simulated day went through the pipeline


def test_records_received_counts_a_simulated_day_by_its_range(data):
    """A simulated day's records arrived in Kafka when it was run, days later: the panel counts
    them for the day's range, not for the range of their arrival alone."""
    rows = [
        crossing(
            f"grafana-simulated/{index}",
            "traveller",
            "FUTIAN",
            "exit",
            SIMULATED_DAY + timedelta(hours=3, minutes=index),
            loaded=RUN_AT + timedelta(minutes=index, seconds=20),
        )
        for index in range(3)
    ]
    data.insert("crossings", CROSSING_COLUMNS, rows)
    data.insert(
        "pipeline_counts",
        ["received_minute", "topic", "received", "clean", "dead_letters", "duplicates", "too_late", "version"],
        [
            ((RUN_AT + timedelta(minutes=minute)).strftime(STAMP), "crossings.raw.traveller", 2, 1, 1, 0, 0, 1)
            for minute in range(3)
        ]
        # a later run of other days: not this day's records
        + [((RUN_AT + timedelta(hours=2)).strftime(STAMP), "crossings.raw.traveller", 50, 50, 0, 0, 0, 1)],
    )
    ops = board("ops_centre")
    panel = next(p for p in ops["panels"] if p["title"].startswith("Records received in range"))
    day = TimeRange(SIMULATED_DAY, SIMULATED_DAY + timedelta(days=1), interval_s=300)
    [counts] = data.query(expand(panel["targets"][0]["rawSql"], day, dashboard_variables(ops))).dicts()
    assert (int(counts["received"]), int(counts["clean"]), int(counts["dead_letters"])) == (6, 3, 3)
    # by processing time, as before: nothing in the day's range
    from grafana.dashboards.ops_centre.health import RECORD_COUNTS

    [by_arrival] = data.query(expand(RECORD_COUNTS, day)).dicts()
    assert not by_arrival["received"]


def test_analysts_days_are_shenzhen_local_days_and_today_shows_before_0800(data):
    """At 07:30 local (23:30 UTC the day before), today's local crossings are on the board."""
    released = datetime(2025, 11, 6, 23, 10, tzinfo=UTC)  # 2025-11-07 07:10 local
    loaded = released + timedelta(seconds=20)
    data.insert(
        "crossings",
        CROSSING_COLUMNS,
        [crossing("grafana-local-day/0", "traveller", "SHEKOU", "entry", released, loaded=loaded)],
    )
    analysts = board("analysts")
    assert analysts["timezone"] == "Asia/Shanghai"
    now = datetime(2025, 11, 6, 23, 30, tzinfo=UTC)
    today = TimeRange(now - timedelta(hours=7, minutes=30), now, interval_s=300)  # "today so far" in Shenzhen
    for title in ("Crossings per local day and kind", "Crossings per local day, port and direction"):
        panel = next(p for p in analysts["panels"] if p["title"] == title)
        rows = data.query(expand(panel["targets"][0]["rawSql"], today, dashboard_variables(analysts))).dicts()
        assert rows, title
        if "day" in rows[0]:
            assert {str(r["day"]) for r in rows} == {"2025-11-07"}
            assert [int(r["crossings"]) for r in rows if r["port_code"] == "SHEKOU"] == [1]
        else:
            assert [str(r["time"])[:10] for r in rows] == ["2025-11-07"] or all(
                str(r["time"]).startswith("2025-11-06 16:00") for r in rows
            ), rows


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
        [crossing("grafana-alerts/0", "traveller", "LUOHU", "exit", released, clearance_s=90, loaded=released)],
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
