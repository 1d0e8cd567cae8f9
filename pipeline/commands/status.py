"""`crossings status [--json]`: the whole pipeline on one screen, exit 1 when a part is down or lags.

Parts: the services of `crossings services up` (running or not); the crossings job on their
Flink cluster (its state from Flink's REST API); the loader and the dispatcher as their
Prometheus sees them (`up`, the loader's consumer lag and freshness of `crossings`); the open
clearance-spike episodes (firing `ClearanceSpike` alerts in the stack's Alertmanager). A part is
a problem when it is down, when the job is not RUNNING, when the loader's lag is above
`STATUS_MAX_LAG_RECORDS` or its freshness above `STATUS_MAX_FRESHNESS_S`; each problem names its
part and why. The dispatcher not being scraped is shown, not a problem (it is optional).
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from rich.console import Console
from rich.table import Table

from deploy.services.prometheus import PrometheusError, query
from deploy.services.settings import StatusSettings
from pipeline.commands.common import local_stack
from pipeline.runtime import JOB_NAME

SERVICES = ("kafka", "flink", "alertmanager", "prometheus")
HOW = {
    "loader": "`crossings load` exports on LOADER_METRICS_PORT",
    "dispatcher": "`crossings alerts dispatch` exports on ALERTS_METRICS_PORT",
}


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser(
        "status",
        help="services, the job's state, the loader's lag and freshness and open alert episodes on one screen; "
        "exit 1 when something is down or lagging",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(handler=status)


def status(args: argparse.Namespace) -> int:
    report = pipeline_status(local_stack().status(), StatusSettings())
    if args.json:
        print(json.dumps(report))
    else:
        _print(report)
    for problem in report["problems"]:
        Console(stderr=True).print(f"[red]{problem}[/red]", highlight=False)
    return 1 if report["problems"] else 0


def pipeline_status(services: dict[str, dict], settings: StatusSettings) -> dict[str, Any]:
    """The status document: `services`, `job`, `loader`, `dispatcher`, `episodes`, `problems`."""
    problems = [
        f"{name}: down (not running; `crossings services up` starts it)"
        for name in SERVICES
        if not services.get(name, {}).get("running")
    ]
    report: dict[str, Any] = {"services": {name: bool(services.get(name, {}).get("running")) for name in SERVICES}}
    report["job"] = _job(services["flink"], settings, problems)
    prometheus = services.get("prometheus", {})
    report["loader"] = _consumer("loader", prometheus, settings, problems)
    report["dispatcher"] = _consumer("dispatcher", prometheus, settings, [])
    report["episodes"] = _episodes(services.get("alertmanager", {}), settings)
    report["problems"] = problems
    return report


def _get(url: str, timeout_s: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return json.loads(response.read())


def _job(flink: dict, settings: StatusSettings, problems: list[str]) -> dict[str, Any]:
    if not flink.get("running"):
        return {"state": None}
    try:
        jobs = _get(f"{flink['rest']}/jobs/overview", settings.timeout_s)["jobs"]
    except (urllib.error.URLError, OSError, ValueError, KeyError) as error:
        problems.append(f"job: unknown (Flink's REST API does not answer: {type(error).__name__})")
        return {"state": None}
    ours = sorted((job for job in jobs if job["name"] == JOB_NAME), key=lambda job: job["start-time"])
    if not ours:
        problems.append(f"job: not running (no job called {JOB_NAME} on the cluster; `crossings job submit`)")
        return {"state": None}
    newest = ours[-1]
    if newest["state"] != "RUNNING":
        problems.append(f"job: {newest['state']} (not RUNNING; see the JobManager's log)")
    return {"state": newest["state"], "id": newest["jid"]}


def _value(url: str, expression: str, timeout_s: float) -> dict[str, float]:
    """The series of an instant query by their `table` or `topic` label ('' without either)."""
    return {
        series["metric"].get("table", series["metric"].get("topic", "")): float(series["value"][1])
        for series in query(url, expression, timeout_s)
    }


def _consumer(job: str, prometheus: dict, settings: StatusSettings, problems: list[str]) -> dict[str, Any]:
    """The loader or the dispatcher as Prometheus sees it (its scrape job `job`)."""
    if not prometheus.get("running"):
        problems.append(f"{job}: unknown (Prometheus is not running)")
        return {"up": None}
    url, timeout = prometheus["url"], settings.timeout_s
    prefix = "crossings_loader" if job == "loader" else "crossings_dispatcher"
    try:
        up = _value(url, f'max(up{{job="{job}"}})', timeout)
        lag = _value(url, f'sum({prefix}_consumer_lag{{job="{job}"}})', timeout)
        freshness = _value(url, f'max({prefix}_freshness_seconds{{job="{job}", table="crossings"}})', timeout)
    except PrometheusError as error:
        problems.append(f"{job}: unknown ({error})")
        return {"up": None}
    entry: dict[str, Any] = {
        "up": up.get("") == 1,
        "lag_records": lag.get(""),
        "freshness_s": None if "" not in freshness else round(freshness[""], 1),
    }
    if not entry["up"]:
        why = "Prometheus has no target for it" if not up else "Prometheus cannot scrape its metrics port"
        problems.append(f"{job}: down ({why}; {HOW[job]})")
    elif entry["lag_records"] is not None and entry["lag_records"] > settings.max_lag_records:
        problems.append(
            f"{job}: lagging ({entry['lag_records']:.0f} records not read, over STATUS_MAX_LAG_RECORDS "
            f"{settings.max_lag_records})"
        )
    elif entry["freshness_s"] is not None and entry["freshness_s"] > settings.max_freshness_s:
        problems.append(
            f"{job}: stale (newest crossing loaded {entry['freshness_s']:.0f} s ago, over STATUS_MAX_FRESHNESS_S "
            f"{settings.max_freshness_s:g})"
        )
    return entry


OPEN_SPIKES = ('alertname="ClearanceSpike"', 'episode_type!="forecast"')  # Alertmanager matchers


def _episodes(alertmanager: dict, settings: StatusSettings) -> int | None:
    """Open clearance-spike episodes: the active ClearanceSpike alerts in Alertmanager that are
    no early warning (those carry episode_type=forecast)."""
    if not alertmanager.get("running"):
        return None
    matchers = "&".join(
        f"filter={urllib.parse.quote(matcher)}"
        for matcher in ('alertname="ClearanceSpike"', 'episode_type!="forecast"')
    )
    try:
        alerts = _get(f"{alertmanager['url']}/api/v2/alerts?active=true&{matchers}", settings.timeout_s)
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return len({alert["labels"].get("episode_id") for alert in alerts})


def _print(report: dict[str, Any]) -> None:
    table = Table("part", "state", "detail")
    for name, running in report["services"].items():
        table.add_row(name, "up" if running else "[red]down[/red]", "")
    job = report["job"]
    table.add_row("job", job["state"] or "-", job.get("id", ""))
    for part in ("loader", "dispatcher"):
        entry = report[part]
        state = {True: "up", False: "[red]down[/red]", None: "?"}[entry["up"]]
        details = []
        if entry.get("lag_records") is not None:
            details.append(f"lag {entry['lag_records']:.0f} records")
        if entry.get("freshness_s") is not None:
            details.append(f"freshness {entry['freshness_s']:.0f} s")
        table.add_row(part, state, ", ".join(details))
    episodes = report["episodes"]
    table.add_row("open episodes", "?" if episodes is None else str(episodes), "ClearanceSpike in Alertmanager")
    Console().print(table)
