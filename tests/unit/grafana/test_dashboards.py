"""The dashboards' committed JSON against the code, its Grafana shape (the ClickHouse plugin's
query model, the data source variables and import inputs), the provisioning files, the panel
SQL helper and the expansion of the ClickHouse plugin's macros."""

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
from grafana.panels import CLICKHOUSE, DATASOURCE_TYPE, PLUGIN_VERSION, PROMETHEUS, panel_sql
from grafana.settings import GrafanaSettings
from pipeline.cli import main
from pipeline.transforms.forecast import HORIZONS_MIN, WARNING_HORIZON_MIN

ROOT = Path(__file__).resolve().parents[3]
PROVISIONING = ROOT / "grafana" / "provisioning"


SETTINGS = GrafanaSettings(_env_file=None)


def load(name: str) -> dict:
    return json.loads(json_path(name).read_text(encoding="utf-8"))


def panels(board: dict) -> list[dict]:
    return [panel for panel in board["panels"] if panel["type"] != "row"]


@pytest.mark.parametrize("name", DASHBOARDS)
def test_committed_json_is_what_the_code_builds(name):
    assert json_path(name).read_text(encoding="utf-8") == render(name, SETTINGS), (
        f"grafana/dashboards/{name}.json is stale: run `crossings grafana build`"
    )


def test_no_stray_dashboard_json_and_check_command_agrees(capsys):
    assert {path.stem for path in DASHBOARDS_DIR.glob("*.json")} == set(DASHBOARDS)
    assert stale(SETTINGS) == []
    assert main(["grafana", "build", "--check"]) == 0


def test_check_reports_a_stale_file(tmp_path):
    assert stale(SETTINGS, tmp_path) == [json_path(name, tmp_path) for name in DASHBOARDS]


def test_a_changed_setting_makes_the_boards_stale(tmp_path):
    red = GrafanaSettings(_env_file=None, freshness_red_s=SETTINGS.freshness_red_s + 60)
    assert json_path("ops_centre") in stale(red) and json_path("pipeline_health") in stale(red)


@pytest.mark.parametrize("name", DASHBOARDS)
def test_json_loads_as_the_sdk_dashboard_model(name):
    board = load(name)
    model = Dashboard.from_json(board)
    assert model.uid == board["uid"] and model.title == board["title"]
    again = json.loads(json.dumps(model, cls=JSONEncoder))
    assert [p["title"] for p in again["panels"]] == [p["title"] for p in board["panels"]]
    # nothing of the board is lost by the SDK's model but the import header
    assert {key for key in board if key not in again} <= {"__inputs", "__requires"}
    assert len(again["templating"]["list"]) == len(board["templating"]["list"])
    assert len(again["annotations"].get("list", [])) == len(board["annotations"].get("list", []))


def clickhouse_targets(board: dict) -> list[tuple[str, dict]]:
    """(title, target) of every ClickHouse query of a board: panels' and annotations'."""
    found = [(p["title"], t) for p in panels(board) for t in p["targets"] if t["datasource"]["type"] == DATASOURCE_TYPE]
    for annotation in board["annotations"].get("list", []):
        if annotation["datasource"]["type"] == DATASOURCE_TYPE:
            found.append((annotation["name"], annotation["target"]))
    return found


@pytest.mark.parametrize("name", DASHBOARDS)
def test_queries_follow_the_clickhouse_plugins_query_model(name):
    board = load(name)
    assert panels(board)
    for panel in panels(board):
        assert panel["type"] in ("timeseries", "table", "stat"), panel["title"]
        assert panel["targets"], panel["title"]
        assert panel["fieldConfig"]["defaults"]["unit"], f"{panel['title']}: no unit"
    if name != "pipeline_health":
        assert all(p["datasource"] == CLICKHOUSE.ref.to_json() for p in panels(board))
    for title, target in clickhouse_targets(board):
        assert target["datasource"] == CLICKHOUSE.ref.to_json(), title
        assert target["editorType"] == "sql" and target["rawSql"].startswith("SELECT "), title
        # the plugin's CHSqlQuery of 4.x: queryType timeseries or table, with sqlds' format
        assert target["pluginVersion"] == PLUGIN_VERSION, title
        assert (target["queryType"], target["format"]) in (("timeseries", 0), ("table", 1)), title
    for panel in panels(board):
        if panel["targets"][0]["datasource"]["type"] == DATASOURCE_TYPE:
            assert panel["targets"][0]["queryType"] == ("timeseries" if panel["type"] == "timeseries" else "table")


def imported(name: str, uids: dict[str, str]) -> dict:
    """The dashboard as Grafana's Import dialog leaves it: each `${INPUT}` of `__inputs`
    replaced by the uid chosen for it, then the data source variables resolved as Grafana
    resolves `${variable}` in a panel's data source."""
    text = json_path(name).read_text(encoding="utf-8")
    board = json.loads(text)
    for item in board["__inputs"]:
        text = text.replace(f"${{{item['name']}}}", uids[item["pluginId"]])
    board = json.loads(text)
    values = {v["name"]: v["current"]["value"] for v in board["templating"]["list"] if v["type"] == "datasource"}

    def resolve(node):
        if isinstance(node, dict):
            if set(node) >= {"type", "uid"} and isinstance(node["uid"], str) and node["uid"].startswith("${"):
                return node | {"uid": values.get(node["uid"][2:-1], node["uid"])}
            return {key: resolve(item) for key, item in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(board)


@pytest.mark.parametrize("name", DASHBOARDS)
def test_import_with_any_datasource_uid_points_every_panel_and_annotation_at_it(name):
    board = load(name)
    inputs = {item["name"]: item for item in board["__inputs"]}
    assert inputs[CLICKHOUSE.input]["type"] == "datasource"
    assert inputs[CLICKHOUSE.input]["pluginId"] == DATASOURCE_TYPE
    assert {"type": "datasource", "id": DATASOURCE_TYPE, "name": "ClickHouse", "version": PLUGIN_VERSION} in (
        board["__requires"]
    )
    variables = {v["name"]: v for v in board["templating"]["list"] if v["type"] == "datasource"}
    assert variables[CLICKHOUSE.variable]["query"] == DATASOURCE_TYPE
    # the JSON names no data source of ours: only the inputs and the variables
    text = json_path(name).read_text(encoding="utf-8")
    assert "crossings-clickhouse" not in text and "crossings-prometheus" not in text
    uids = {DATASOURCE_TYPE: "a1B2c3-imported", "prometheus": "prom-9z"}
    board = imported(name, uids)
    seen = 0
    for panel in panels(board):
        for holder in (panel, *panel["targets"]):
            assert holder["datasource"]["uid"] == uids[holder["datasource"]["type"]], panel["title"]
            seen += 1
    for annotation in board["annotations"].get("list", []):
        for holder in (annotation, annotation.get("target", {})):
            if "datasource" in holder:
                assert holder["datasource"]["uid"] == uids[holder["datasource"]["type"]], annotation["name"]
    assert seen and "${" not in json.dumps([p["datasource"] for p in panels(board)])
    if name == "pipeline_health":
        assert inputs[PROMETHEUS.input]["pluginId"] == "prometheus"
        assert {p["datasource"]["type"] for p in panels(board)} == {"prometheus"}
    names = [a["name"] for a in board["annotations"].get("list", [])]
    if name == "ops_centre":
        assert names == ["Clearance alert episodes", "Early warnings"]
    if name == "pipeline_health":
        assert names == ["Clearance alert episodes"]


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
    assert variables == ["datasource", "port", "kind", "direction"]
    ops_variables = {v["name"]: v for v in boards["ops_centre"]["templating"]["list"]}
    assert list(ops_variables) == ["datasource", "port", "horizon"]
    # the forecast's horizons, one at a time, none typed in (the value goes into the SQL)
    horizon = ops_variables["horizon"]
    assert [o["value"] for o in horizon["options"]] == [str(h) for h in HORIZONS_MIN]
    assert horizon["current"]["value"] == str(WARNING_HORIZON_MIN)
    assert not horizon["multi"] and not horizon["includeAll"] and not horizon["allowCustomValue"]


def test_port_detail_panels_filter_by_every_variable():
    for panel in panels(load("port_detail")):
        sql = panel["targets"][0]["rawSql"]
        for name in ("port", "kind", "direction"):
            assert f"${{{name}:singlequote}}" in sql, panel["title"]


def test_provisioned_datasource_matches_the_dashboards_and_holds_no_secret():
    text = (PROVISIONING / "datasources" / "clickhouse.yaml").read_text()
    assert "uid: crossings-clickhouse" in text and f"type: {DATASOURCE_TYPE}" in text
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


def test_ops_centre_thresholds_links_and_port_variable():
    from schemas.ports import load_ports

    board = load("ops_centre")
    by_title = {panel["title"]: panel for panel in panels(board)}
    [p90] = [panel for title, panel in by_title.items() if title.startswith("Clearance p90 per port and kind")]
    [forecast] = [panel for title, panel in by_title.items() if title.startswith("Clearance p90 forecast")]

    def threshold_lines(panel):
        return {
            override["matcher"]["options"]: override["properties"][0]["value"]["steps"][1]["value"]
            for override in panel["fieldConfig"]["overrides"]
            if override["properties"][0]["id"] == "thresholds"
        }

    lines = threshold_lines(p90)
    expected = [
        threshold for port in load_ports() for threshold in port.clearance_threshold_s.values()
    ]  # one line per port and kind it clears
    assert sorted(lines.values()) == sorted(expected) and len(lines) == len(expected)
    assert any("HUANGGANG" in pattern and "truck" in pattern and value == 3600 for pattern, value in lines.items())
    assert threshold_lines(forecast) == lines  # on the actual and the forecast series alike
    [dotted] = [o for o in forecast["fieldConfig"]["overrides"] if o["properties"][0]["id"] == "custom.lineStyle"]
    assert dotted["matcher"]["options"] == "^forecast_p90_s" and "${horizon}" in forecast["title"]
    freshness = by_title["Pipeline freshness (now - newest event)"]["fieldConfig"]["defaults"]["thresholds"]
    assert freshness["steps"][-1] == {"color": "red", "value": SETTINGS.freshness_red_s}
    over = by_title["Clearance p90 over the port's alert threshold"]["fieldConfig"]["defaults"]
    assert over["thresholds"]["steps"][-1] == {"color": "red", "value": 1} and over["unit"] == "percentunit"
    for panel in panels(board):
        sql = panel["targets"][0]["rawSql"]
        if "port_code" in sql:  # every panel of ports follows the Port variable
            assert "${port:singlequote}" in sql, panel["title"]
    linked = [
        panel["title"]
        for panel in panels(board)
        if "crossings-port-detail" in json.dumps(panel["fieldConfig"]) and "var-port=" in json.dumps(panel)
    ]
    assert {
        "Crossings per minute per port",
        "Open alert episodes (raised, not yet resolved)",
        forecast["title"],
        "Early warnings (open first) and diversion advice",
    } <= set(linked)
    assert board["links"][0]["url"] == "/d/crossings-port-detail/" and board["links"][0]["keepTime"]
