"""`crossings grafana build`: the dashboards' JSON from the code in grafana/dashboards/, and the
alert rules' provisioning file (grafana/provisioning/alerting/rules.yaml) from grafana/alerts.py."""

from __future__ import annotations

import argparse


def register(groups: argparse._SubParsersAction) -> None:
    grafana = groups.add_parser("grafana", help="build the Grafana dashboards' JSON and alert rules")
    actions = grafana.add_subparsers(dest="grafana_command", required=True)
    build = actions.add_parser(
        "build", help="write grafana/dashboards/*.json and grafana/provisioning/alerting/rules.yaml")
    build.add_argument("--check", action="store_true", help="only report stale files (exit 1 if any)")
    build.set_defaults(handler=run_build)


def run_build(args: argparse.Namespace) -> int:
    from grafana.build import DASHBOARDS_DIR, stale, write_all

    if args.check:
        outdated = stale()
        for path in outdated:
            print(f"stale: {path.relative_to(DASHBOARDS_DIR.parent.parent)}")
        return 1 if outdated else 0
    written = write_all()
    for path in written:
        print(f"wrote {path.relative_to(DASHBOARDS_DIR.parent.parent)}")
    if not written:
        print("up to date: no dashboard or alert rule changed")
    return 0
