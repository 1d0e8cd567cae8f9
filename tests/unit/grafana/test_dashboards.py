"""The dashboards' committed JSON against the code, its Grafana shape, the provisioning files,
the panel SQL helper and the expansion of the ClickHouse plugin's macros."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from itertools import combinations
from pathlib import Path

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.build import DASHBOARDS, DASHBOARDS_DIR, json_path, render, stale
from grafana.macros import ALL, MacroError, TimeRange, dashboard_variables, expand
from grafana.panels import DATASOURCE_TYPE, DATASOURCE_UID, panel_sql
from pipeline.cli import main

ROOT = Path(__file__).resolve().parents[3]
PROVISIONING = ROOT / "grafana" / "provisioning"


def load(name: str) -> dict:
    return json.loads(json_path(name).read_text(encoding="utf-8"))


def panels(board: dict) -> list[dict]:
    return [panel for panel in board["panels"] if panel["type"] != "row"]


@pytest.mark.parametrize("name", DASHBOARDS)
def test_committed_json_is_what_the_code_builds(name):
    assert json_path(name).read_text(encoding="utf-8") == render(name), (
        f"grafana/dashboards/{name}.json is stale: run `crossings grafana build`"
    )


def test_no_stray_dashboard_json_and_check_command_agrees(capsys):
    assert {path.stem for path in DASHBOARDS_DIR.glob("*.json")} == set(DASHBOARDS)
    assert stale() == []
    assert main(["grafana", "build", "--check"]) == 0


def test_check_reports_a_stale_file(tmp_path):
    assert stale(tmp_path) == [json_path(name, tmp_path) for name in DASHBOARDS]


@pytest.mark.parametrize("name", DASHBOARDS)
def test_json_loads_as_the_sdk_dashboard_model(name):
    board = load(name)
    model = Dashboard.from_json(board)
    assert model.uid == board["uid"] and model.title == board["title"]
    again = json.loads(json.dumps(model, cls=JSONEncoder))
    assert [p["title"] for p in again["panels"]] == [p["title"] for p in board["panels"]]


@pytest.mark.parametrize("name", DASHBOARDS)
def test_panels_query_the_clickhouse_datasource_by_uid(name):
    board = load(name)
    assert panels(board)
    for panel in panels(board):
        assert panel["type"] in ("timeseries", "table", "stat"), panel["title"]
        assert panel["datasource"] == {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == DATASOURCE_UID
            assert target["editorType"] == "sql" and target["rawSql"].startswith("SELECT ")
            assert target["queryType"] == ("timeSeries" if panel["type"] == "timeseries" else "table")


@pytest.mark.parametrize("name", DASHBOARDS)
def test_grid_positions_fit_and_do_not_overlap(name):
    board = load(name)
    ids = [panel["id"] for panel in board["panels"]]
    assert len(set(ids)) == len(ids)
    boxes = []
    for panel in board["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["w"] > 0 and pos["x"] + pos["w"] <= 24 and pos["h"] > 0
        boxes.append((pos["x"], pos["y"], pos["x"] + pos["w"], pos["y"] + pos["h"], panel["title"]))
    for a, b in combinations(boxes, 2):
        overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
        assert not overlap, f"{a[4]!r} overlaps {b[4]!r}"


def test_dashboard_uids_are_distinct_and_ops_centre_refreshes():
    boards = {name: load(name) for name in DASHBOARDS}
    assert len({board["uid"] for board in boards.values()}) == len(boards)
    assert boards["ops_centre"]["refresh"]
    variables = [v["name"] for v in boards["port_detail"]["templating"]["list"]]
    assert variables == ["port", "kind", "direction"]


def test_port_detail_panels_filter_by_every_variable():
    for panel in panels(load("port_detail")):
        sql = panel["targets"][0]["rawSql"]
        for name in ("port", "kind", "direction"):
            assert f"${{{name}:singlequote}}" in sql, panel["title"]


def test_provisioned_datasource_matches_the_dashboards_and_holds_no_secret():
    text = (PROVISIONING / "datasources" / "clickhouse.yaml").read_text()
    assert f"uid: {DATASOURCE_UID}" in text and f"type: {DATASOURCE_TYPE}" in text
    assert "password: $CLICKHOUSE_ANALYST_PASSWORD" in text and "host: $CLICKHOUSE_ANALYST_HOST" in text
    provider = (PROVISIONING / "dashboards" / "crossings.yaml").read_text()
    assert "type: file" in provider and "path: $GRAFANA_DASHBOARDS_PATH" in provider


def test_panel_sql_builds_filters_bucket_and_final():
    sql = panel_sql(
        "throughput_windows",
        ["port_code", "sum(crossings) AS n"],
        time_column="window_start",
        bucket=True,
        final=True,
        filters=["port", "kind"],
        where=["kind = 'truck'"],
        group_by=["port_code"],
        order_by=["port_code"],
        limit=5,
    )
    assert sql == (
        "SELECT $__timeInterval(window_start) AS time, port_code, sum(crossings) AS n\n"
        "FROM throughput_windows FINAL\n"
        "WHERE $__timeFilter(window_start)\n"
        "  AND port_code IN (${port:singlequote})\n"
        "  AND kind IN (${kind:singlequote})\n"
        "  AND kind = 'truck'\n"
        "GROUP BY time, port_code\n"
        "ORDER BY time, port_code\n"
        "LIMIT 5"
    )
    with pytest.raises(ValueError):
        panel_sql("crossings", ["count()"], bucket=True)


RANGE = TimeRange(datetime(2025, 11, 3, tzinfo=UTC), datetime(2025, 11, 4, 12, 30, tzinfo=UTC), interval_s=300)


def test_macros_expand_as_the_clickhouse_plugin_does():
    assert expand("$__timeFilter(t)", RANGE) == "t >= toDateTime(1762128000) AND t <= toDateTime(1762259400)"
    assert expand("$__fromTime, $__toTime", RANGE) == "toDateTime(1762128000), toDateTime(1762259400)"
    assert expand("$__fromTime_ms", RANGE) == "fromUnixTimestamp64Milli(1762128000000)"
    assert expand("$__timeInterval(toDate(x, 'UTC'))", RANGE) == (
        "toStartOfInterval(toDateTime(toDate(x, 'UTC')), INTERVAL 300 second)"
    )
    assert expand("$__dateFilter(day)", RANGE) == "day >= toDate('2025-11-03') AND day <= toDate('2025-11-04')"
    assert expand("$__interval_s", TimeRange(RANGE.start, RANGE.end, interval_s=0.2)) == "1"
    assert expand("$__dt(d, t)", RANGE) == (
        "(d >= toDate('2025-11-03') AND d <= toDate('2025-11-04')) AND "
        "(t >= toDateTime(1762128000) AND t <= toDateTime(1762259400))"
    )
    with pytest.raises(MacroError):
        expand("$__timeFilter(a, b)", RANGE)
    with pytest.raises(MacroError):
        expand("$__nope", RANGE)


def test_template_variables_and_the_all_selection():
    board = load("port_detail")
    every_port = dashboard_variables(board)["port"]
    assert "LUOHU" in every_port and ALL not in every_port and len(every_port) == 10
    chosen = dashboard_variables(board, {"port": "LUOHU", "kind": ["truck", "driver"], "direction": ALL})
    assert chosen == {"port": ["LUOHU"], "kind": ["truck", "driver"], "direction": ["entry", "exit"]}
    sql = "port_code IN (${port:singlequote}) AND kind IN (${kind:singlequote}) AND d = '$direction'"
    assert expand(sql, RANGE, {"port": ["O'Hare"], "kind": ["truck", "driver"], "direction": ["exit"]}) == (
        "port_code IN ('O\\'Hare') AND kind IN ('truck','driver') AND d = 'exit'"
    )
    with pytest.raises(MacroError):
        expand("${port}", RANGE, {})
    custom_all = {"templating": {"list": [{"name": "port", "allValue": "''", "current": {"value": ALL}}]}}
    assert dashboard_variables(custom_all) == {"port": ["''"]}
