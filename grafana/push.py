"""`crossings grafana push`: the data sources, folder, dashboards, alert rules, contact point and
notification route of this folder's code and provisioning files, created or updated on a running
Grafana over its HTTP API (grafana-client), for a Grafana that does not read the provisioning files.

Each object is read by uid first, then created, updated, or left alone when it already holds
what would be sent, so a second push creates nothing. The definitions are the provisioning
files' (clickhouse.yaml, prometheus.yaml when GRAFANA_PROMETHEUS_URL is set, contact_points.yaml,
with their `$VARIABLES` filled from the settings), the dashboards of grafana/build.py as the
Import dialog leaves them (their `${DS_...}` inputs set to our data sources' uids) and the rules
and route of grafana/alerts.py. The ClickHouse data source is always updated: Grafana never
returns its password, so a changed password cannot be seen.

Push owns its objects only: a data source is created as not the default and an update keeps
the organisation's choice; the route is added to, or updated in, the organisation's policy tree,
whose root and other routes stay as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
import yaml
from grafana_client import GrafanaApi
from grafana_client.client import GrafanaException

from connectors.clickhouse.settings import ClickHouseAnalystSettings, ClickHouseSettings
from grafana import alerts
from grafana.build import DASHBOARDS, render
from grafana.panels import CLICKHOUSE, DATASOURCE_UID, PROMETHEUS, PROMETHEUS_UID
from grafana.settings import GrafanaSettings

PROVISIONING = Path(__file__).resolve().parent / "provisioning"
DATASOURCE_FILE = PROVISIONING / "datasources" / "clickhouse.yaml"
PROMETHEUS_FILE = PROVISIONING / "datasources" / "prometheus.yaml"
CONTACT_POINTS_FILE = PROVISIONING / "alerting" / "contact_points.yaml"
FOLDER_UID = "crossings"
ORG_ID = 1
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_UNITS_S = {"s": 1, "m": 60, "h": 3600}


class PushError(RuntimeError):
    """Grafana refused or could not be reached, or a setting push needs is missing."""


@dataclass(frozen=True)
class Pushed:
    """One object and what push did to it: created, updated or unchanged."""

    action: str
    kind: str
    uid: str

    def __str__(self) -> str:
        return f"{self.action} {self.kind} {self.uid}"


@dataclass(frozen=True)
class Definitions:
    """Everything push sends, built before the first request."""

    datasources: list[dict[str, Any]]
    folder: dict[str, str]
    dashboards: list[dict[str, Any]]
    rules: list[dict[str, Any]]
    group_interval_s: int
    contact_point: dict[str, Any]
    route: dict[str, Any]


def fill(value: Any, variables: Mapping[str, Any]) -> Any:
    """`value` (from YAML) with each `$NAME`/`${NAME}` replaced from `variables`, as Grafana
    interpolates its environment; a string that is only a placeholder takes the value's type."""
    if isinstance(value, dict):
        return {key: fill(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, variables) for item in value]
    if not isinstance(value, str):
        return value
    names = [a or b for a, b in _VARIABLE.findall(value)]
    for name in names:
        if name not in variables:
            raise PushError(f"no setting fills ${name} of the provisioning files")
    whole = _VARIABLE.fullmatch(value)
    if whole:
        return variables[whole.group(1) or whole.group(2)]
    return _VARIABLE.sub(lambda match: str(variables[match.group(1) or match.group(2)]), value)


def _required(value: str | None, variable: str) -> str:
    if not value:
        raise PushError(f"{variable} is not set: push needs it (see .env.example)")
    return value


def datasource(analyst: ClickHouseAnalystSettings, clickhouse: ClickHouseSettings) -> dict[str, Any]:
    """The data source of clickhouse.yaml as an API body; the password in secureJsonData only."""
    password = _required(analyst.password.get_secret_value(), "CLICKHOUSE_ANALYST_PASSWORD")
    variables = {
        "CLICKHOUSE_ANALYST_HOST": _required(analyst.host, "CLICKHOUSE_ANALYST_HOST"),
        "CLICKHOUSE_ANALYST_PORT": analyst.port,
        "CLICKHOUSE_ANALYST_SECURE": analyst.secure,
        "CLICKHOUSE_ANALYST_USER": analyst.user,
        "CLICKHOUSE_ANALYST_PASSWORD": password,
        "CLICKHOUSE_DATABASE": clickhouse.database,
    }
    return _source(DATASOURCE_FILE, variables)


def prometheus_datasource(prometheus_url: str | None) -> dict[str, Any] | None:
    """The data source of prometheus.yaml as an API body; None without GRAFANA_PROMETHEUS_URL."""
    return None if not prometheus_url else _source(PROMETHEUS_FILE, {"GRAFANA_PROMETHEUS_URL": prometheus_url})


def _source(path: Path, variables: Mapping[str, Any]) -> dict[str, Any]:
    (source,) = yaml.safe_load(path.read_text(encoding="utf-8"))["datasources"]
    source = {key: item for key, item in source.items() if key != "editable"}  # file provisioning only
    return fill(source, variables)


def contact_point(webhook_url: str | None) -> dict[str, Any]:
    """The webhook contact point of contact_points.yaml."""
    url = _required(webhook_url, "GRAFANA_ALERT_WEBHOOK_URL")  # an http(s) URL: GrafanaSettings checks it
    document = fill(yaml.safe_load(CONTACT_POINTS_FILE.read_text(encoding="utf-8")), {"GRAFANA_ALERT_WEBHOOK_URL": url})
    (point,) = document["contactPoints"]
    (receiver,) = point["receivers"]
    return {"name": point["name"], **receiver}


def imported(name: str, settings: GrafanaSettings) -> dict[str, Any]:
    """Dashboard `name` as Grafana's Import dialog leaves it with our data sources chosen: each
    `${DS_...}` input replaced by the provisioned uid, without `__inputs` and `__requires`."""
    text = render(name, settings)
    for source, uid in ((CLICKHOUSE, DATASOURCE_UID), (PROMETHEUS, PROMETHEUS_UID)):
        text = text.replace(f"${{{source.input}}}", uid)
    return {key: item for key, item in json.loads(text).items() if key not in ("__inputs", "__requires")}


def interval_s(interval: str) -> int:
    """Seconds of a Grafana duration such as `1m`, `30s`, `2h`."""
    match = re.fullmatch(r"(\d+)([smh])", interval)
    if not match:
        raise ValueError(f"not a duration of s, m or h: {interval!r}")
    return int(match.group(1)) * _UNITS_S[match.group(2)]


def definitions(
    grafana: GrafanaSettings, analyst: ClickHouseAnalystSettings, clickhouse: ClickHouseSettings
) -> Definitions:
    """What push sends, from the code, the provisioning files and the settings; a PushError
    naming the variable when one it needs is missing."""
    point = contact_point(grafana.alert_webhook_url)
    sources = [datasource(analyst, clickhouse), prometheus_datasource(grafana.prometheus_url)]
    return Definitions(
        datasources=[source for source in sources if source is not None],
        folder={"uid": FOLDER_UID, "title": alerts.FOLDER},
        dashboards=[imported(name, grafana) for name in DASHBOARDS],
        rules=[rule | {"folderUID": FOLDER_UID, "ruleGroup": alerts.GROUP, "orgID": ORG_ID} for rule in alerts.rules()],
        group_interval_s=interval_s(alerts.INTERVAL),
        contact_point=point,
        route=alerts.ROUTE,
    )


def connect(url: str, token: str, timeout_s: float) -> GrafanaApi:
    """A client of the Grafana at `url` (a sub-path such as /grafana kept), sending the token
    as `Authorization: Bearer`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PushError("the URL of Grafana (--url or GRAFANA_URL) is not an http(s) URL")
    base = url.rstrip("/") + "/"
    return GrafanaApi.from_url(base, credential=token, timeout=timeout_s)


def _reason(error: Exception) -> str:
    if isinstance(error, GrafanaException):
        if error.status_code == 401:
            return "401 Unauthorized: check the token (--token or GRAFANA_TOKEN)"
        return error.message
    if isinstance(error, requests.Timeout):
        return "no answer in time (GRAFANA_TIMEOUT_S)"
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return f"cannot connect: {cause.strerror}"
        cause = cause.__cause__ or cause.__context__
    return f"cannot connect: {error}"


def _public(url: str) -> str:
    """`url` without its user, password, query and fragment: what a message may show."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _call(api: GrafanaApi, what: str, request: Callable[[], Any], *, missing_ok: bool = False) -> Any:
    """`request()`'s answer; None for a 404 when `missing_ok`; any other failure as a PushError
    naming Grafana's URL and the object."""
    try:
        return request()
    except (GrafanaException, requests.RequestException) as error:
        if missing_ok and isinstance(error, GrafanaException) and error.status_code == 404:
            return None
        raise PushError(f"Grafana at {_public(api.url or api.client.url)}: {what}: {_reason(error)}") from error


def holds(actual: Any, wanted: Any) -> bool:
    """Whether `actual` (as Grafana returns it) holds `wanted`: every key of a wanted mapping
    with a value it holds, lists item by item; Grafana's own extra fields are ignored."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            key in actual and holds(actual[key], item) for key, item in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(wanted)
            and all(holds(a, w) for a, w in zip(actual, wanted, strict=True))
        )
    return actual == wanted


def push_datasource(api: GrafanaApi, source: dict[str, Any]) -> Pushed:
    """Created as the file has it (not the default); an update keeps whether the organisation
    made it its default."""
    uid, what = source["uid"], f"datasource {source['uid']}"
    sources = api.datasource
    existing = _call(api, what, lambda: sources.get_datasource_by_uid(uid), missing_ok=True)
    if existing is None:
        _call(api, what, lambda: sources.create_datasource(source))
        return Pushed("created", "datasource", uid)
    body = source | {"isDefault": bool(existing.get("isDefault", False))}
    _call(api, what, lambda: sources.update_datasource_by_uid(uid, body))
    return Pushed("updated", "datasource", uid)


def push_folder(api: GrafanaApi, folder: dict[str, str]) -> Pushed:
    uid, what = folder["uid"], f"folder {folder['uid']}"
    existing = _call(api, what, lambda: api.folder.get_folder(uid), missing_ok=True)
    if existing is None:
        _call(api, what, lambda: api.folder.create_folder(folder["title"], uid=uid))
        return Pushed("created", "folder", uid)
    if existing.get("title") == folder["title"]:
        return Pushed("unchanged", "folder", uid)
    _call(api, what, lambda: api.folder.update_folder(uid, title=folder["title"], overwrite=True))
    return Pushed("updated", "folder", uid)


def push_dashboard(api: GrafanaApi, dashboard: dict[str, Any], folder_uid: str) -> Pushed:
    """Saved with overwrite when Grafana's copy (without its id and version) or folder differ."""
    uid, what = dashboard["uid"], f"dashboard {dashboard['uid']}"
    existing = _call(api, what, lambda: api.dashboard.get_dashboard(uid), missing_ok=True)
    if existing is not None:
        stored = {key: item for key, item in existing["dashboard"].items() if key not in ("id", "version")}
        if stored == dashboard and existing.get("meta", {}).get("folderUid") == folder_uid:
            return Pushed("unchanged", "dashboard", uid)
    body = {"dashboard": dashboard, "folderUid": folder_uid, "overwrite": True, "message": "crossings grafana push"}
    _call(api, what, lambda: api.dashboard.update_dashboard(body))
    return Pushed("created" if existing is None else "updated", "dashboard", uid)


def push_rule(api: GrafanaApi, rule: dict[str, Any]) -> Pushed:
    uid, what = rule["uid"], f"alert rule {rule['uid']}"
    provisioning = api.alertingprovisioning
    existing = _call(api, what, lambda: provisioning.get_alertrule(uid), missing_ok=True)
    if existing is None:
        _call(api, what, lambda: provisioning.create_alertrule(rule))
        return Pushed("created", "alert rule", uid)
    if holds(existing, rule):
        return Pushed("unchanged", "alert rule", uid)
    _call(api, what, lambda: provisioning.update_alertrule(uid, rule))
    return Pushed("updated", "alert rule", uid)


def push_group_interval(api: GrafanaApi, folder_uid: str, group: str, seconds: int) -> Pushed:
    """The evaluation interval of the rules' group (created by the first rule with Grafana's
    default interval); its rules are sent back as they are."""
    what = f"rule group {group}"
    provisioning = api.alertingprovisioning
    current = _call(api, what, lambda: provisioning.get_rule_group(folder_uid, group))
    if current.get("interval") == seconds:
        return Pushed("unchanged", "rule group", group)
    body = {"title": group, "folderUid": folder_uid, "interval": seconds, "rules": current.get("rules", [])}
    _call(api, what, lambda: provisioning.update_rule_group_interval(folder_uid, group, body))
    return Pushed("updated", "rule group", group)


def push_contact_point(api: GrafanaApi, point: dict[str, Any]) -> Pushed:
    uid, what = point["uid"], f"contact point {point['uid']}"
    provisioning = api.alertingprovisioning
    listed = _call(api, what, provisioning.get_contactpoints)
    existing = next((item for item in listed if item.get("uid") == uid), None)
    if existing is None:
        _call(api, what, lambda: provisioning.create_contactpoint(point))
        return Pushed("created", "contact point", uid)
    if holds(existing, point):
        return Pushed("unchanged", "contact point", uid)
    _call(api, what, lambda: provisioning.update_contactpoint(uid, point))
    return Pushed("updated", "contact point", uid)


def with_route(tree: dict[str, Any], route: dict[str, Any]) -> dict[str, Any] | None:
    """The organisation's policy `tree` with `route` first among its routes, or in place of the
    top-level route to the same receiver; None when the tree already holds it. Its root
    (default receiver, grouping, timers) and every other route are kept as they are."""
    routes = list(tree.get("routes") or [])
    ours = next((index for index, item in enumerate(routes) if item.get("receiver") == route["receiver"]), None)
    if ours is None:
        routes.insert(0, route)
    elif holds(routes[ours], route):
        return None
    else:
        routes[ours] = route
    return {key: item for key, item in tree.items() if key != "provenance"} | {"routes": routes}


def push_route(api: GrafanaApi, route: dict[str, Any]) -> Pushed:
    """Our route in the organisation's notification policy tree (the API sets whole trees: the
    tree read, with our route added or updated, is sent back)."""
    what = "notification policy tree"
    provisioning = api.alertingprovisioning
    tree = _call(api, what, provisioning.get_notification_policy_tree)
    had = any(item.get("receiver") == route["receiver"] for item in tree.get("routes") or [])
    changed = with_route(tree, route)
    if changed is None:
        return Pushed("unchanged", "notification route", route["receiver"])
    _call(api, what, lambda: provisioning.set_notification_policy_tree(changed))
    return Pushed("updated" if had else "created", "notification route", route["receiver"])


def push(api: GrafanaApi, wanted: Definitions) -> Iterator[Pushed]:
    """Pushes every object, those referenced first (data source, folder, contact point before
    what uses them), yielding each as it is done."""
    for source in wanted.datasources:
        yield push_datasource(api, source)
    yield push_folder(api, wanted.folder)
    for dashboard in wanted.dashboards:
        yield push_dashboard(api, dashboard, wanted.folder["uid"])
    for rule in wanted.rules:
        yield push_rule(api, rule)
    yield push_group_interval(api, wanted.folder["uid"], alerts.GROUP, wanted.group_interval_s)
    yield push_contact_point(api, wanted.contact_point)
    yield push_route(api, wanted.route)
