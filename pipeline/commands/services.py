"""`crossings services up|down|status`: the local Kafka broker, Flink cluster, Alertmanager and Prometheus."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table

from connectors.kafka.settings import KafkaSettings
from pipeline.commands.common import local_stack


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser(
        "services", help="start, stop or inspect the local Kafka broker, Flink cluster, Alertmanager and Prometheus"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    up_parser = actions.add_parser(
        "up", help="start Kafka (KRaft), the standalone Flink cluster, Alertmanager and Prometheus"
    )
    up_parser.add_argument(
        "--brokers",
        type=int,
        choices=range(1, 10),
        metavar="N",
        help="Kafka brokers, each also a KRaft controller (default KAFKA_BROKERS, 1); "
        "3: topics get 3 replicas and min.insync.replicas 2",
    )
    up_parser.set_defaults(handler=up)
    actions.add_parser("down", help="stop what `up` started, and only that").set_defaults(handler=down)
    status_parser = actions.add_parser("status", help="show addresses and whether each service runs")
    status_parser.add_argument("--json", action="store_true", help="print one JSON document")
    status_parser.set_defaults(handler=status)


def up(args: argparse.Namespace) -> int:
    stack = local_stack()
    if args.brokers:
        stack.kafka_settings = KafkaSettings(brokers=args.brokers)
    with Console(stderr=True).status("starting Kafka, Flink, Alertmanager and Prometheus ..."):
        state = stack.up()
    _print_table(state)
    return 0


def down(args: argparse.Namespace) -> int:
    stopped = local_stack().down()
    print("stopped: " + ", ".join(stopped) if stopped else "nothing was running")
    return 0


def status(args: argparse.Namespace) -> int:
    stack = local_stack()
    state = stack.status()
    if args.json:
        print(json.dumps(state))
    else:
        _print_table(state)
    problems = stack.problems()
    for problem in problems:
        Console(stderr=True).print(f"[red]{problem}[/red]")
    return 1 if problems else 0


def _print_table(state: dict) -> None:
    table = Table("service", "address", "running")
    table.add_row("kafka", state["kafka"]["bootstrap"] or "-", str(state["kafka"]["running"]).lower())
    table.add_row("flink", state["flink"]["rest"] or "-", str(state["flink"]["running"]).lower())
    table.add_row("alertmanager", state["alertmanager"]["url"] or "-", str(state["alertmanager"]["running"]).lower())
    table.add_row("prometheus", state["prometheus"]["url"] or "-", str(state["prometheus"]["running"]).lower())
    Console().print(table)
