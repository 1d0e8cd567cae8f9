"""The alert rules' provisioning file (generated, committed) and the hand-written contact point
and notification policy: Grafana's file-provisioning shape, the SQL from the code, no secret."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import time
from pathlib import Path

import yaml

from grafana.alerts import FOLDER, ROUTE, clearance_spike_sql, open_now_sql, pipeline_stale_sql, render_rules
from grafana.build import RULES_PATH, stale
from grafana.panels import DATASOURCE_UID
from grafana.settings import GrafanaSettings
from schemas.ports import load_ports

ALERTING = Path(__file__).resolve().parents[3] / "grafana" / "provisioning" / "alerting"
SECRET = re.compile(r"password|secret|token|api_?key|://|@", re.IGNORECASE)


def load(name: str) -> dict:
    return yaml.safe_load((ALERTING / name).read_text(encoding="utf-8"))


def rules() -> list[dict]:
    return [rule for group in load("rules.yaml")["groups"] for rule in group["rules"]]


def test_committed_rules_are_what_the_code_builds(tmp_path):
    assert RULES_PATH == ALERTING / "rules.yaml"
    assert RULES_PATH.read_text(encoding="utf-8") == render_rules(), "run `crossings grafana build`"
    settings = GrafanaSettings(_env_file=None)
    assert stale(settings) == []
    missing = tmp_path / "rules.yaml"
    assert missing in stale(settings, rules_path=missing)


def test_rules_have_the_file_provisioning_shape():
    document = load("rules.yaml")
    assert document["apiVersion"] == 1
    assert document["groups"]
    for group in document["groups"]:
        assert group["orgId"] == 1 and group["name"] and group["folder"] == FOLDER
        assert re.fullmatch(r"\d+[smh]", group["interval"])
        assert group["rules"]
    uids = [rule["uid"] for rule in rules()]
    assert len(set(uids)) == len(uids) == 2 and all(len(uid) <= 40 for uid in uids)
    for rule in rules():
        assert rule["title"] and re.fullmatch(r"\d+[smh]", rule["for"])
        assert rule["labels"]["team"] == "crossings" and rule["labels"]["severity"] in ("warning", "critical")
        assert rule["noDataState"] in ("OK", "NoData", "Alerting")
        assert rule["execErrState"] in ("Error", "Alerting", "OK")
        refs = {item["refId"]: item for item in rule["data"]}
        assert rule["condition"] in refs
        query = refs["A"]
        assert query["datasourceUid"] == DATASOURCE_UID and query["model"]["datasource"]["uid"] == DATASOURCE_UID
        assert query["relativeTimeRange"]["from"] > 0 and query["relativeTimeRange"]["to"] == 0
        assert query["model"]["rawSql"].startswith("SELECT ") and query["model"]["editorType"] == "sql"
        assert query["model"]["queryType"] == "table" and query["model"]["format"] == 1
        # Grafana interpolates $NAME in provisioning files: the SQL must not hold one
        assert "$" not in query["model"]["rawSql"] and "$" not in yaml.safe_dump(rule)
        reduce, threshold = refs["B"]["model"], refs["C"]["model"]
        assert refs["B"]["datasourceUid"] == refs["C"]["datasourceUid"] == "__expr__"
        assert reduce["type"] == "reduce" and reduce["expression"] == "A" and reduce["reducer"] == "last"
        assert threshold["type"] == "threshold" and threshold["expression"] == "B"
        assert rule["condition"] == "C" and threshold["conditions"][0]["evaluator"]["type"] == "gt"


def test_rule_sql_comes_from_the_code():
    by_uid = {rule["uid"]: rule for rule in rules()}
    sql = {uid: rule["data"][0]["model"]["rawSql"] for uid, rule in by_uid.items()}
    assert sql["crossings-clearance-spike"] == clearance_spike_sql()
    assert sql["crossings-pipeline-stale"] == pipeline_stale_sql()
    assert by_uid["crossings-clearance-spike"]["data"][2]["model"]["conditions"][0]["evaluator"]["params"] == [1]
    assert by_uid["crossings-pipeline-stale"]["data"][2]["model"]["conditions"][0]["evaluator"]["params"] == [300]
    for port in load_ports():
        for kind, threshold in port.clearance_threshold_s.items():
            assert f"('{port.code}', '{kind}', {threshold})" in sql["crossings-clearance-spike"]


def test_open_gate_from_the_registry():
    ports = load_ports()
    assert any(hours is None for port in ports for hours in port.opening_hours.values())
    assert open_now_sql() == "1" and "HAVING" not in pipeline_stale_sql()
    limited = [ports.get("LUOHU"), ports.get("FUTIAN")]
    assert ports.get("FUTIAN").opening_hours["traveller"] == (time(6, 30), time(22, 30))
    gate = open_now_sql("t", limited)
    minute = "(toHour(t, 'Asia/Shanghai') * 60 + toMinute(t, 'Asia/Shanghai'))"
    assert gate == f"(({minute} >= 390 AND {minute} < 1350) OR ({minute} >= 390 AND {minute} < 1440))"
    assert pipeline_stale_sql("t", limited).endswith(f"HAVING {gate}")
    assert open_now_sql("t", []) == "0"


def test_rules_notify_the_webhook_without_replacing_the_organisations_policy_tree():
    document = load("contact_points.yaml")
    assert document["apiVersion"] == 1
    [contact] = document["contactPoints"]
    [receiver] = contact["receivers"]
    assert receiver["type"] == "webhook" and receiver["settings"]["url"] == "$GRAFANA_ALERT_WEBHOOK_URL"
    # a provisioned policy tree would replace the organisation's: none in any alerting file
    for path in ALERTING.glob("*.yaml"):
        assert "policies" not in yaml.safe_load(path.read_text(encoding="utf-8")), path.name
    for rule in rules():  # simplified routing: each rule names the contact point
        settings = rule["notification_settings"]
        assert settings["receiver"] == contact["name"] == ROUTE["receiver"]
        assert {"alertname", "grafana_folder"} <= set(settings["group_by"])
    # the route push adds to the organisation's tree: the folder's alerts, grouped alike
    assert ["grafana_folder", "=", FOLDER] in ROUTE["object_matchers"]
    assert ROUTE["group_by"] == rules()[0]["notification_settings"]["group_by"]


def scalars(node) -> Iterator[str]:
    """Every key and leaf value of a YAML document, as text."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from scalars(value)
    elif isinstance(node, list):
        for value in node:
            yield from scalars(value)
    else:
        yield str(node)


def test_no_secret_or_address_in_the_alerting_files():
    for path in ALERTING.glob("*.yaml"):
        values = list(scalars(yaml.safe_load(path.read_text(encoding="utf-8"))))
        leaks = [value for value in values if SECRET.search(value)]
        assert not leaks, f"{path.name}: {leaks}"
