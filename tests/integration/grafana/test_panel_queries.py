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
from functools import partial

import pytest

from grafana.build import DASHBOARDS, render
from grafana.macros import ALL, TimeRange, dashboard_variables, expand
from grafana.panels import DATASOURCE_TYPE
from grafana.settings import GrafanaSettings

from .conftest import CROSSING_COLUMNS, DAY, EPISODE, STAMP, WARNINGS, crossing, warning_id

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


def panel_rows(warehouse, name, title, selection=None):
    """The rows of the panel of board `name` whose title starts with `title`."""
    loaded = board(name)
    panel = next(p for p in loaded["panels"] if p["title"].startswith(title))
    return run(warehouse, loaded, panel, panel["targets"][0]["rawSql"], selection).dicts()


def test_figures_on_the_fixture(data):
    table = partial(panel_rows, data)

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
    # of the fixture's episodes (other modules' open ones share the session warehouse), the
    # open clearance episode and not the open early warnings
    ours = {EPISODE, *(warning_id(short) for short, *_ in WARNINGS)}
    assert {r["episode_id"] for r in open_episodes} & ours == {EPISODE}
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


def annotations(warehouse, name, time_range=RANGE, selection=None, title="Clearance alert episodes"):
    loaded = board(name)
    [annotation] = [a for a in loaded["annotations"]["list"] if a["name"] == title]
    sql = expand(annotation["target"]["rawSql"], time_range, dashboard_variables(loaded, selection))
    return warehouse.query(sql).dicts()


def test_alert_episodes_are_annotations_over_the_range(data):
    [episode] = annotations(data, "ops_centre")  # the clearance episode, none of the early warnings
    assert episode["title"] == "Clearance spike at HUANGGANG (truck, entry)"
    assert episode["text"] == "open: peak p90 1200 s against 900 s" and episode["timeEnd"] is None
    assert episode["tags"] == "HUANGGANG,truck,warning"
    assert annotations(data, "ops_centre", selection={"port": "LUOHU"}) == []
    assert annotations(data, "pipeline_health") == [episode]
    before = TimeRange(DAY - timedelta(days=1), DAY, interval_s=300)  # raised after this range
    assert annotations(data, "ops_centre", before) == []


def hhmm(moment) -> str | None:
    return None if moment is None else str(moment)[:16]


def test_forecast_next_to_the_actual_p90_of_its_window(data):
    def series(selection):
        rows = panel_rows(data, "ops_centre", "Clearance p90 forecast", selection)
        return {(hhmm(r["time"]), r["port_code"], r["kind"]): (r["actual_p90_s"], r["forecast_p90_s"]) for r in rows}

    ports = {"port": ["HUANGGANG", "LUOHU", "LIANTANG", "FUTIAN"]}
    # the fixture's windows by their end (5-minute buckets), the 30-minute forecasts issued for them
    assert series(ports) == {
        ("2025-11-03 02:05", "HUANGGANG", "truck"): (600, 700),
        # LUOHU's two exit windows (60 s ending 02:10, 240 s ending 02:11): one was forecast
        ("2025-11-03 02:10", "LUOHU", "traveller"): ((60 + 240) / 2, 100),
        ("2025-11-03 02:15", "HUANGGANG", "truck"): (1200, 1500),
        ("2025-11-03 03:05", "LIANTANG", "truck"): (900, None),
        ("2025-11-03 09:35", "LUOHU", "traveller"): (45, None),
    }  # FUTIAN's forecast is for a window without crossings: not on the panel
    fifteen = series(ports | {"horizon": "15"})
    assert fifteen[("2025-11-03 02:05", "HUANGGANG", "truck")] == (600, 650)
    assert [key for key, (_, forecast) in fifteen.items() if forecast is not None] == [
        ("2025-11-03 02:05", "HUANGGANG", "truck")
    ]
    assert set(series({"port": "LIANTANG"})) == {("2025-11-03 03:05", "LIANTANG", "truck")}


def test_early_warnings_open_first_then_the_ranges_with_their_advice(data):
    def warnings(selection=None):
        return [
            (
                r["port_code"],
                r["kind"],
                r["direction"],
                hhmm(r["raised_at"]),
                hhmm(r["resolved_at"]),
                r["peak_forecast_s"],
                r["threshold_s"],
                r["advice"],
            )
            for r in panel_rows(data, "ops_centre", "Early warnings (open first)", selection)
            # the fixture's days: other modules' open episodes share the session warehouse
            if r["raised_at"][:10] in {f"{DAY - timedelta(days=1):%Y-%m-%d}", f"{DAY:%Y-%m-%d}"}
        ]

    assert warnings() == [
        (
            "SHENZHEN_BAY",
            "traveller",
            "exit",
            "2025-11-03 03:30",
            None,
            2100,
            1800,
            "divert to FUTIAN: expected 15 min, 20 min less",
        ),
        ("WENJINDU", "truck", "entry", "2025-11-02 20:00", None, 3700, 3600, None),  # open since the day before
        # the peak of both rows, the advice it was raised with
        (
            "HUANGGANG",
            "truck",
            "exit",
            "2025-11-03 01:30",
            "2025-11-03 02:20",
            3900,
            3600,
            "divert to LIANTANG: expected 30 min, 31.7 min less",
        ),
    ]  # LUOHU's warning was resolved the day before: not in the range
    assert [w[0] for w in warnings({"port": ["HUANGGANG", "LUOHU"]})] == ["HUANGGANG"]


def test_early_warnings_are_annotations_of_their_own(data):
    def early(time_range=RANGE, selection=None):
        return {r["title"]: r for r in annotations(data, "ops_centre", time_range, selection, "Early warnings")}

    shown = early()
    assert set(shown) == {
        "Early warning at SHENZHEN_BAY (traveller, exit)",
        "Early warning at HUANGGANG (truck, exit)",
        "Early warning at WENJINDU (truck, entry)",
    }
    resolved = shown["Early warning at HUANGGANG (truck, exit)"]
    assert resolved["text"] == (
        "resolved: peak forecast p90 3900 s against 3600 s; divert to LIANTANG: expected 30 min, 31.7 min less"
    )
    assert (hhmm(resolved["time"]), hhmm(resolved["timeEnd"])) == ("2025-11-03 01:30", "2025-11-03 02:20")
    assert resolved["tags"] == "HUANGGANG,truck,early-warning"
    assert shown["Early warning at WENJINDU (truck, entry)"]["text"] == "open: peak forecast p90 3700 s against 3600 s"
    day_before = TimeRange(DAY - timedelta(days=1), DAY - timedelta(seconds=1), interval_s=300)
    assert set(early(day_before)) == {
        "Early warning at LUOHU (traveller, entry)",
        "Early warning at WENJINDU (truck, entry)",
    }
    assert early(selection={"port": "LUOHU"}) == {}


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
