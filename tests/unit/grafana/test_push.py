"""`crossings grafana push` against a loopback HTTP server that keeps Grafana's state in memory
and answers the part of Grafana's HTTP API push uses as Grafana documents it: 404 for an unknown
uid (an empty body for alert rules), 409 when a uid or name is taken, 412 for a stale dashboard
or folder version, dashboard versions counting up on each save, secrets never read back."""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from grafana import alerts
from grafana.build import DASHBOARDS
from grafana.push import FOLDER_UID, fill, holds, interval_s
from pipeline.cli import main

TOKEN = "glsa_test-token"
PASSWORD = "analyst-secret-pw"
WEBHOOK = "https://hooks.example.test/grafana"
DEFAULT_INTERVAL_S = 60  # Grafana's default_rule_evaluation_interval
DEFAULT_POLICY = {"receiver": "grafana-default-email", "group_by": ["grafana_folder", "alertname"]}
PROMETHEUS_URL = "http://prometheus.internal:9090"

Answer = tuple[int, Any]


class FakeGrafana:
    """Grafana's objects by uid and every request received (method, path, Authorization, body)."""

    def __init__(self) -> None:
        self.datasources: dict[str, dict] = {}
        self.secrets: dict[str, dict] = {}
        self.folders: dict[str, dict] = {}
        self.dashboards: dict[str, dict] = {}
        self.rules: dict[str, dict] = {}
        self.group_intervals: dict[tuple[str, str], int] = {}
        self.contact_points: dict[str, dict] = {}
        self.policy: dict = copy.deepcopy(DEFAULT_POLICY)
        self.requests: list[tuple[str, str, str | None, Any]] = []
        self.failures: dict[tuple[str, str], int] = {}
        self._ids = iter(range(1, 1_000_000))
        self.lock = threading.Lock()

    def handle(self, method: str, path: str, authorization: str | None, body: Any) -> Answer:
        with self.lock:
            self.requests.append((method, path, authorization, copy.deepcopy(body)))
            if authorization != f"Bearer {TOKEN}":
                return 401, {"message": "Invalid API key", "messageId": "api-key.invalid", "statusCode": 401}
            if (method, path) in self.failures:
                return self.failures[method, path], {"message": "internal server error"}
            for pattern, handler in ROUTES.get(method, []):
                match = re.fullmatch(pattern, path)
                if match:
                    return handler(self, body, *match.groups())
            return 404, {"message": "Not found"}

    # Data sources: the password is kept apart and only flagged in secureJsonFields.
    def _datasource_view(self, uid: str) -> dict:
        return self.datasources[uid] | {"secureJsonFields": {key: True for key in self.secrets[uid]}}

    def get_datasource(self, _: Any, uid: str) -> Answer:
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        return 200, self._datasource_view(uid)

    def add_datasource(self, body: dict) -> Answer:
        if any(source["name"] == body["name"] for source in self.datasources.values()):
            return 409, {"message": "data source with the same name already exists"}
        if body.get("uid") in self.datasources:
            return 409, {"message": "data source with the same uid already exists"}
        uid = body["uid"]
        stored = {key: item for key, item in body.items() if key != "secureJsonData"}
        self.datasources[uid] = stored | {"id": next(self._ids), "orgId": 1, "version": 1, "readOnly": False}
        self.secrets[uid] = dict(body.get("secureJsonData", {}))
        view = self._datasource_view(uid)
        return 200, {"datasource": view, "id": view["id"], "message": "Datasource added", "name": view["name"]}

    def update_datasource(self, body: dict, uid: str) -> Answer:
        if uid not in self.datasources:
            return 404, {"message": "Data source not found"}
        current = self.datasources[uid]
        if current["readOnly"]:
            return 403, {"message": "Cannot update read-only data source"}
        if "version" in body and body["version"] != current["version"]:
            return 409, {"message": "Datasource has already been updated by someone else. Please reload and try again"}
        stored = {key: item for key, item in body.items() if key not in ("secureJsonData", "version")}
        self.datasources[uid] = (
            stored
            | {key: current[key] for key in ("id", "orgId", "readOnly")}
            | {"uid": uid, "version": current["version"] + 1}
        )
        self.secrets[uid] |= body.get("secureJsonData", {})
        view = self._datasource_view(uid)
        return 200, {"datasource": view, "id": view["id"], "message": "Datasource updated", "name": view["name"]}

    # Folders.
    def get_folder(self, _: Any, uid: str) -> Answer:
        if uid not in self.folders:
            return 404, {"message": "folder not found", "status": "not-found"}
        return 200, self.folders[uid]

    def add_folder(self, body: dict) -> Answer:
        uid = body.get("uid") or f"generated{next(self._ids)}"
        if uid in self.folders:
            return 409, {"message": "a folder with the same uid already exists"}
        if any(folder["title"] == body["title"] for folder in self.folders.values()):
            return 409, {"message": "a folder with the same name already exists"}
        self.folders[uid] = {
            "id": next(self._ids),
            "uid": uid,
            "title": body["title"],
            "url": f"/dashboards/f/{uid}/",
            "version": 1,
        }
        return 200, self.folders[uid]

    def update_folder(self, body: dict, uid: str) -> Answer:
        if uid not in self.folders:
            return 404, {"message": "folder not found", "status": "not-found"}
        folder = self.folders[uid]
        if not body.get("overwrite") and body.get("version") != folder["version"]:
            return 412, {"message": "the folder has been changed by someone else", "status": "version-mismatch"}
        folder.update(title=body.get("title", folder["title"]), version=folder["version"] + 1)
        return 200, folder

    # Dashboards: the JSON stored as sent, with Grafana's id and version.
    def get_dashboard(self, _: Any, uid: str) -> Answer:
        if uid not in self.dashboards:
            return 404, {"message": "Dashboard not found"}
        saved = self.dashboards[uid]
        folder = self.folders.get(saved["folderUid"], {})
        return 200, {
            "dashboard": copy.deepcopy(saved["dashboard"]),
            "meta": {
                "folderUid": saved["folderUid"],
                "folderId": folder.get("id", 0),
                "folderTitle": folder.get("title", "General"),
                "version": saved["dashboard"]["version"],
                "provisioned": False,
                "slug": uid,
                "url": f"/d/{uid}/{uid}",
            },
        }

    def save_dashboard(self, body: dict) -> Answer:
        dashboard, folder_uid = copy.deepcopy(body["dashboard"]), body.get("folderUid", "")
        if folder_uid and folder_uid not in self.folders:
            return 400, {"message": "folder not found"}
        uid, overwrite = dashboard["uid"], body.get("overwrite", False)
        existing = self.dashboards.get(uid)
        if not overwrite:
            if existing and dashboard.get("version") != existing["dashboard"]["version"]:
                return 412, {"status": "version-mismatch", "message": "The dashboard has been changed by someone else"}
            if any(
                other["folderUid"] == folder_uid and other["dashboard"]["title"] == dashboard["title"]
                for key, other in self.dashboards.items()
                if key != uid
            ):
                return 412, {
                    "status": "name-exists",
                    "message": "A dashboard with the same name in the folder already exists",
                }
        dashboard["id"] = existing["dashboard"]["id"] if existing else next(self._ids)
        dashboard["version"] = existing["dashboard"]["version"] + 1 if existing else 1
        self.dashboards[uid] = {"dashboard": dashboard, "folderUid": folder_uid}
        return 200, {
            "id": dashboard["id"],
            "uid": uid,
            "url": f"/d/{uid}/{uid}",
            "status": "success",
            "version": dashboard["version"],
            "slug": uid,
        }

    # Alert rules, their group's interval, contact points and the policy tree (provisioning API).
    def _rule_view(self, uid: str) -> dict:
        rule = copy.deepcopy(self.rules[uid])
        for query in rule["data"]:
            query.setdefault("queryType", "")
        return rule

    def get_rule(self, _: Any, uid: str) -> Answer:
        return (200, self._rule_view(uid)) if uid in self.rules else (404, None)

    def _invalid_rule(self, rule: dict) -> str | None:
        if rule.get("folderUID") not in self.folders:
            return "folder does not exist"
        for query in rule["data"]:
            if query["datasourceUid"] != "__expr__" and query["datasourceUid"] not in self.datasources:
                return f"data source {query['datasourceUid']} not found"
        return None

    def add_rule(self, body: dict) -> Answer:
        if problem := self._invalid_rule(body):
            return 400, {"message": f"invalid alert rule: {problem}"}
        if body["uid"] in self.rules:
            return 409, {
                "message": "a conflicting alert rule is found: rule title under the same organisation "
                "and folder should be unique"
            }
        self.rules[body["uid"]] = copy.deepcopy(body) | {"id": next(self._ids), "provenance": "api"}
        self.group_intervals.setdefault((body["folderUID"], body["ruleGroup"]), DEFAULT_INTERVAL_S)
        return 201, self._rule_view(body["uid"])

    def update_rule(self, body: dict, uid: str) -> Answer:
        if uid not in self.rules:
            return 404, None
        if problem := self._invalid_rule(body):
            return 400, {"message": f"invalid alert rule: {problem}"}
        self.rules[uid] = copy.deepcopy(body) | {"uid": uid, "id": self.rules[uid]["id"], "provenance": "api"}
        self.group_intervals.setdefault((body["folderUID"], body["ruleGroup"]), DEFAULT_INTERVAL_S)
        return 200, self._rule_view(uid)

    def _group(self, folder_uid: str, group: str) -> dict:
        return {
            "title": group,
            "folderUid": folder_uid,
            "interval": self.group_intervals[folder_uid, group],
            "rules": [
                self._rule_view(uid)
                for uid, rule in self.rules.items()
                if (rule["folderUID"], rule["ruleGroup"]) == (folder_uid, group)
            ],
        }

    def get_group(self, _: Any, folder_uid: str, group: str) -> Answer:
        if (folder_uid, group) not in self.group_intervals:
            return 404, {"message": "rule group not found"}
        return 200, self._group(folder_uid, group)

    def put_group(self, body: dict, folder_uid: str, group: str) -> Answer:
        kept = {rule["uid"] for rule in body["rules"]}
        for uid in [
            uid
            for uid, rule in self.rules.items()
            if (rule["folderUID"], rule["ruleGroup"]) == (folder_uid, group) and uid not in kept
        ]:
            del self.rules[uid]
        for rule in body["rules"]:
            self.rules[rule["uid"]] = copy.deepcopy(rule) | {"folderUID": folder_uid, "ruleGroup": group}
        self.group_intervals[folder_uid, group] = body["interval"]
        return 200, self._group(folder_uid, group)

    def list_contact_points(self, _: Any) -> Answer:
        return 200, list(copy.deepcopy(self.contact_points).values())

    def add_contact_point(self, body: dict) -> Answer:
        if body.get("uid") in self.contact_points:
            return 409, {"message": "contact point with this uid already exists"}
        self.contact_points[body["uid"]] = copy.deepcopy(body) | {"provenance": "api"}
        return 202, self.contact_points[body["uid"]]

    def update_contact_point(self, body: dict, uid: str) -> Answer:
        if uid not in self.contact_points:
            return 404, {"message": "contact point not found"}
        self.contact_points[uid] = copy.deepcopy(body) | {"uid": uid, "provenance": "api"}
        return 202, {"message": "contactpoint updated"}

    def get_policy(self, _: Any) -> Answer:
        return 200, copy.deepcopy(self.policy)

    def set_policy(self, body: dict) -> Answer:
        names = {point["name"] for point in self.contact_points.values()} | {"grafana-default-email"}
        receivers = {body["receiver"], *(route["receiver"] for route in body.get("routes", []))}
        if receivers - names:
            return 400, {"message": f"invalid policy tree: receiver {sorted(receivers - names)[0]} does not exist"}
        self.policy = copy.deepcopy(body) | {"provenance": "api"}
        return 202, {"message": "policies updated"}


PROVISIONING = r"/api/v1/provisioning"
ROUTES = {
    "GET": [
        (r"/api/datasources/uid/([^/]+)", FakeGrafana.get_datasource),
        (r"/api/folders/([^/]+)", FakeGrafana.get_folder),
        (r"/api/dashboards/uid/([^/]+)", FakeGrafana.get_dashboard),
        (PROVISIONING + r"/alert-rules/([^/]+)", FakeGrafana.get_rule),
        (PROVISIONING + r"/folder/([^/]+)/rule-groups/([^/]+)", FakeGrafana.get_group),
        (PROVISIONING + r"/contact-points", FakeGrafana.list_contact_points),
        (PROVISIONING + r"/policies", FakeGrafana.get_policy),
    ],
    "POST": [
        (r"/api/datasources", FakeGrafana.add_datasource),
        (r"/api/folders", FakeGrafana.add_folder),
        (r"/api/dashboards/db", FakeGrafana.save_dashboard),
        (PROVISIONING + r"/alert-rules", FakeGrafana.add_rule),
        (PROVISIONING + r"/contact-points", FakeGrafana.add_contact_point),
    ],
    "PUT": [
        (r"/api/datasources/uid/([^/]+)", FakeGrafana.update_datasource),
        (r"/api/folders/([^/]+)", FakeGrafana.update_folder),
        (PROVISIONING + r"/alert-rules/([^/]+)", FakeGrafana.update_rule),
        (PROVISIONING + r"/folder/([^/]+)/rule-groups/([^/]+)", FakeGrafana.put_group),
        (PROVISIONING + r"/contact-points/([^/]+)", FakeGrafana.update_contact_point),
        (PROVISIONING + r"/policies", FakeGrafana.set_policy),
    ],
}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        status, payload = self.server.fake.handle(
            self.command, self.path.split("?")[0], self.headers.get("Authorization"), body
        )
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _serve

    def log_message(self, *args: Any) -> None:  # quiet: pytest shows failures, not access logs
        pass


class _Server(ThreadingHTTPServer):
    fake: FakeGrafana


@pytest.fixture
def grafana() -> Iterator[tuple[FakeGrafana, str]]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeGrafana()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """The analyst login and webhook push reads; no .env of the checkout (cwd = tmp_path)."""
    monkeypatch.chdir(tmp_path)
    for name in (
        "GRAFANA_URL",
        "GRAFANA_TOKEN",
        "CLICKHOUSE_DATABASE",
        "GRAFANA_PROMETHEUS_URL",
        "GRAFANA_FRESHNESS_RED_S",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLICKHOUSE_ANALYST_HOST", "clickhouse.internal")
    monkeypatch.setenv("CLICKHOUSE_ANALYST_PORT", "9440")
    monkeypatch.setenv("CLICKHOUSE_ANALYST_SECURE", "true")
    monkeypatch.setenv("CLICKHOUSE_ANALYST_USER", "crossings_reader")
    monkeypatch.setenv("CLICKHOUSE_ANALYST_PASSWORD", PASSWORD)
    monkeypatch.setenv("GRAFANA_ALERT_WEBHOOK_URL", WEBHOOK)
    monkeypatch.setenv("GRAFANA_TIMEOUT_S", "5")


def push(url: str, capsys: pytest.CaptureFixture, token: str = TOKEN) -> tuple[int, list[str], str]:
    code = main(["grafana", "push", "--url", url, "--token", token])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def counts(fake: FakeGrafana) -> dict[str, int]:
    return {
        "datasources": len(fake.datasources),
        "folders": len(fake.folders),
        "dashboards": len(fake.dashboards),
        "rules": len(fake.rules),
        "contact points": len(fake.contact_points),
    }


def paths_of(value: Any, text: str, path: tuple = ()) -> Iterator[tuple]:
    """The key paths in a JSON value whose string contains `text`."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths_of(item, text, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths_of(item, text, (*path, index))
    elif isinstance(value, str) and text in value:
        yield path


def test_first_push_creates_every_object_with_the_right_bodies(grafana, capsys):
    fake, url = grafana
    code, lines, err = push(url, capsys)
    assert code == 0, err
    rules = alerts.rules()
    assert counts(fake) == {
        "datasources": 1,
        "folders": 1,
        "dashboards": len(DASHBOARDS),
        "rules": len(rules),
        "contact points": 1,
    }
    assert len(DASHBOARDS) == 5 and len(rules) == 2
    assert all(line.startswith("created ") for line in lines if "rule group" not in line)
    assert "created notification route crossings-webhook" in lines
    assert "created datasource crossings-clickhouse" in lines and f"created folder {FOLDER_UID}" in lines
    assert {line.split()[-1] for line in lines if line.startswith("created dashboard")} == set(fake.dashboards)
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth, _ in fake.requests)

    source = fake.datasources["crossings-clickhouse"]
    assert source["type"] == "grafana-clickhouse-datasource" and source["access"] == "proxy"
    assert source["jsonData"] == {
        "host": "clickhouse.internal",
        "port": 9440,
        "protocol": "native",
        "secure": True,
        "username": "crossings_reader",
        "defaultDatabase": "crossings",
    }
    assert fake.secrets["crossings-clickhouse"] == {"password": PASSWORD}
    assert source["isDefault"] is False  # the organisation's default data source stays its own
    for _, path, _, body in fake.requests:
        assert all(where[0] == "secureJsonData" for where in paths_of(body, PASSWORD)), path
    assert PASSWORD not in "\n".join(lines) + err

    assert fake.folders[FOLDER_UID]["title"] == alerts.FOLDER
    for saved in fake.dashboards.values():
        assert saved["folderUid"] == FOLDER_UID and saved["dashboard"]["version"] == 1
        # as the Import dialog leaves a board: its inputs set to our data sources
        board = saved["dashboard"]
        assert "__inputs" not in board and "${DS_" not in json.dumps(board)
        current = {v["name"]: v["current"]["value"] for v in board["templating"]["list"] if v["type"] == "datasource"}
        assert current["datasource"] == "crossings-clickhouse"
        assert current.get("prometheus", "crossings-prometheus") == "crossings-prometheus"
    for rule in rules:
        stored = fake.rules[rule["uid"]]
        assert stored["folderUID"] == FOLDER_UID and stored["ruleGroup"] == alerts.GROUP
        assert stored["data"] == rule["data"] and stored["condition"] == rule["condition"]
    assert fake.group_intervals == {(FOLDER_UID, alerts.GROUP): interval_s(alerts.INTERVAL)}
    point = fake.contact_points["crossings-webhook"]
    assert point["name"] == "crossings-webhook" and point["type"] == "webhook"
    assert point["settings"] == {"url": WEBHOOK, "httpMethod": "POST"}
    assert fake.policy["routes"][0]["receiver"] == "crossings-webhook"
    assert fake.policy["routes"][0]["object_matchers"] == [["grafana_folder", "=", alerts.FOLDER]]
    assert {key: fake.policy[key] for key in DEFAULT_POLICY} == DEFAULT_POLICY


ORG_TREE = {
    "receiver": "ops-pager",
    "group_by": ["alertname"],
    "repeat_interval": "12h",
    "routes": [
        {"receiver": "ops-pager", "object_matchers": [["team", "=", "network"]], "continue": True},
        {"receiver": "grafana-default-email", "object_matchers": [["severity", "=", "info"]]},
    ],
}


def test_push_adds_its_route_to_the_organisations_tree_and_keeps_the_rest(grafana, capsys):
    fake, url = grafana
    fake.contact_points["ops-pager"] = {"uid": "ops-pager", "name": "ops-pager", "type": "email"}
    fake.policy = copy.deepcopy(ORG_TREE) | {"provenance": "api"}
    code, lines, err = push(url, capsys)
    assert code == 0, err
    assert "created notification route crossings-webhook" in lines
    ours, *theirs = fake.policy["routes"]
    assert ours == alerts.ROUTE and theirs == ORG_TREE["routes"]
    assert {key: fake.policy[key] for key in ("receiver", "group_by", "repeat_interval")} == {
        key: ORG_TREE[key] for key in ("receiver", "group_by", "repeat_interval")
    }
    # again: nothing to do; our route edited by hand: put back, in its place
    assert "unchanged notification route crossings-webhook" in push(url, capsys)[1]
    fake.policy["routes"] = [*theirs, ours | {"repeat_interval": "1m"}]
    code, lines, _ = push(url, capsys)
    assert code == 0 and "updated notification route crossings-webhook" in lines
    assert fake.policy["routes"] == [*theirs, alerts.ROUTE] and fake.policy["receiver"] == "ops-pager"


def test_push_keeps_the_organisations_default_data_source(grafana, capsys, monkeypatch):
    fake, url = grafana
    monkeypatch.setenv("GRAFANA_PROMETHEUS_URL", PROMETHEUS_URL)
    assert push(url, capsys)[0] == 0
    prometheus = fake.datasources["crossings-prometheus"]
    assert prometheus["type"] == "prometheus" and prometheus["url"] == PROMETHEUS_URL
    assert not prometheus["isDefault"] and not fake.datasources["crossings-clickhouse"]["isDefault"]
    fake.datasources["crossings-clickhouse"]["isDefault"] = True  # the organisation chose it
    code, lines, _ = push(url, capsys)
    assert code == 0 and "updated datasource crossings-clickhouse" in lines
    assert fake.datasources["crossings-clickhouse"]["isDefault"] is True
    assert fake.datasources["crossings-prometheus"]["isDefault"] is False


def test_second_push_creates_nothing_and_repairs_drift(grafana, capsys):
    fake, url = grafana
    assert push(url, capsys)[0] == 0
    before = counts(fake)
    versions = {uid: saved["dashboard"]["version"] for uid, saved in fake.dashboards.items()}
    sent = len(fake.requests)

    code, lines, err = push(url, capsys)
    assert code == 0, err
    assert counts(fake) == before
    assert not [line for line in lines if line.startswith("created")]
    assert "updated datasource crossings-clickhouse" in lines  # its password cannot be compared
    assert [line for line in lines if line.startswith("unchanged")] == lines[1:]
    assert not [path for method, path, _, _ in fake.requests[sent:] if method == "POST"]
    assert {uid: saved["dashboard"]["version"] for uid, saved in fake.dashboards.items()} == versions

    edited = next(iter(fake.dashboards))
    fake.dashboards[edited]["dashboard"]["title"] = "edited in the UI"
    fake.group_intervals[FOLDER_UID, alerts.GROUP] = 10
    fake.rules["crossings-pipeline-stale"]["for"] = "10m"
    code, lines, err = push(url, capsys)
    assert code == 0, err
    assert counts(fake) == before
    assert f"updated dashboard {edited}" in lines and "updated rule group crossings" in lines
    assert "updated alert rule crossings-pipeline-stale" in lines
    assert "unchanged alert rule crossings-clearance-spike" in lines
    assert fake.dashboards[edited]["dashboard"]["version"] == versions[edited] + 1
    assert fake.dashboards[edited]["dashboard"]["title"] != "edited in the UI"
    assert fake.group_intervals[FOLDER_UID, alerts.GROUP] == interval_s(alerts.INTERVAL)
    assert fake.rules["crossings-pipeline-stale"]["for"] == "1m"


def test_unauthorized_exits_1_naming_grafana_and_the_token(grafana, capsys):
    fake, url = grafana
    code, lines, err = push(url, capsys, token="wrong")
    assert code == 1 and lines == []
    assert f"Grafana at {url}/" in err and "datasource crossings-clickhouse" in err and "401" in err
    assert "GRAFANA_TOKEN" in err and "Traceback" not in err
    assert counts(fake) == {"datasources": 0, "folders": 0, "dashboards": 0, "rules": 0, "contact points": 0}


def test_connection_refused_exits_1_naming_the_url(capsys):
    with socket.socket() as probe:  # a port nothing listens on once the socket closes
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    code, lines, err = push(url, capsys)
    assert code == 1 and lines == []
    assert f"Grafana at {url}/" in err and "cannot connect" in err and "Connection refused" in err


def test_server_error_names_the_object_and_stops(grafana, capsys):
    fake, url = grafana
    fake.failures["POST", "/api/dashboards/db"] = 500
    code, lines, err = push(url, capsys)
    assert code == 1
    assert lines == ["created datasource crossings-clickhouse", f"created folder {FOLDER_UID}"]
    assert f"Grafana at {url}/: dashboard crossings-ops-centre: Server Error 500: internal server error" in err
    assert fake.dashboards == {} and fake.rules == {}


def test_missing_settings_stop_before_any_request(grafana, capsys, monkeypatch):
    fake, url = grafana
    monkeypatch.delenv("CLICKHOUSE_ANALYST_PASSWORD")
    code, _, err = push(url, capsys)
    assert code == 1 and "CLICKHOUSE_ANALYST_PASSWORD is not set" in err and fake.requests == []
    monkeypatch.setenv("CLICKHOUSE_ANALYST_PASSWORD", PASSWORD)
    monkeypatch.setenv("GRAFANA_ALERT_WEBHOOK_URL", "hooks.example.test")
    code, _, err = push(url, capsys)
    assert code == 2 and "GRAFANA_ALERT_WEBHOOK_URL: must be an http(s) URL" in err and fake.requests == []
    monkeypatch.setenv("GRAFANA_ALERT_WEBHOOK_URL", WEBHOOK)
    assert main(["grafana", "push", "--url", url]) == 1
    assert "pass --token or set GRAFANA_TOKEN" in capsys.readouterr().err
    assert main(["grafana", "push", "--url", "grafana.internal:3000", "--token", TOKEN]) == 1
    assert "the URL of Grafana (--url or GRAFANA_URL) is not an http(s) URL" in capsys.readouterr().err


def test_fill_types_whole_placeholders_and_refuses_unknown_ones():
    assert fill(
        {"port": "$PORT", "url": "http://${HOST}:$PORT/x", "n": [1, "$ON"]}, {"PORT": 9000, "HOST": "h", "ON": True}
    ) == {"port": 9000, "url": "http://h:9000/x", "n": [1, True]}
    with pytest.raises(RuntimeError, match=r"\$NOPE"):
        fill("$NOPE", {})


def test_holds_ignores_grafanas_extra_fields_but_not_missing_or_changed_ones():
    assert holds({"a": 1, "id": 7, "data": [{"x": 1, "queryType": ""}]}, {"a": 1, "data": [{"x": 1}]})
    assert not holds({"a": 1}, {"a": 1, "b": 2})
    assert not holds({"data": [{"x": 1}, {"x": 2}]}, {"data": [{"x": 1}]})
    assert not holds({"a": "1"}, {"a": 1})
