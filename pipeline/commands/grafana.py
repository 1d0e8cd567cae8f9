"""`crossings grafana build`: the dashboards' JSON from the code in grafana/dashboards/, and the
alert rules' provisioning file (grafana/provisioning/alerting/rules.yaml) from grafana/alerts.py.
`crossings grafana push`: the same objects created or updated on a running Grafana (grafana/push.py)."""

from __future__ import annotations

import argparse

from pipeline.commands.common import UserError


def register(groups: argparse._SubParsersAction) -> None:
    grafana = groups.add_parser(
        "grafana", help="build the Grafana dashboards' JSON and alert rules, push them to a Grafana"
    )
    actions = grafana.add_subparsers(dest="grafana_command", required=True)
    build = actions.add_parser(
        "build", help="write grafana/dashboards/*.json and grafana/provisioning/alerting/rules.yaml"
    )
    build.add_argument("--check", action="store_true", help="only report stale files (exit 1 if any)")
    build.set_defaults(handler=run_build)
    push = actions.add_parser(
        "push",
        help="create or update the data source, folder, dashboards, alert rules and contact point "
        "on a Grafana over its HTTP API",
    )
    push.add_argument("--url", help="Grafana's base URL (default GRAFANA_URL)")
    push.add_argument(
        "--token", help="service-account token (default GRAFANA_TOKEN, which keeps it out of the process list)"
    )
    push.set_defaults(handler=run_push)


def run_build(args: argparse.Namespace) -> int:
    from grafana.build import DASHBOARDS_DIR, stale, write_all
    from grafana.settings import GrafanaSettings

    settings = GrafanaSettings()
    if args.check:
        outdated = stale(settings)
        for path in outdated:
            print(f"stale: {path.relative_to(DASHBOARDS_DIR.parent.parent)}")
        return 1 if outdated else 0
    written = write_all(settings)
    for path in written:
        print(f"wrote {path.relative_to(DASHBOARDS_DIR.parent.parent)}")
    if not written:
        print("up to date: no dashboard or alert rule changed")
    return 0


def run_push(args: argparse.Namespace) -> int:
    from connectors.clickhouse.settings import ClickHouseAnalystSettings, ClickHouseSettings
    from grafana.push import PushError, connect, definitions, push
    from grafana.settings import GrafanaSettings

    settings = GrafanaSettings()
    url = args.url or settings.url
    token = args.token or settings.token.get_secret_value()
    if not url:
        raise UserError("no Grafana: pass --url or set GRAFANA_URL")
    if not token:
        raise UserError("no token: pass --token or set GRAFANA_TOKEN (a service-account token)")
    try:
        api = connect(url, token, settings.timeout_s)
        wanted = definitions(settings, ClickHouseAnalystSettings(), ClickHouseSettings())
        for pushed in push(api, wanted):
            print(pushed, flush=True)
    except PushError as error:
        raise UserError(str(error)) from error
    return 0
