"""`crossings alerts dispatch`: the job's alerts to Alertmanager or the webhooks (connectors/alerts/dispatcher.py)."""

from __future__ import annotations

import argparse
import json
import logging

from connectors.alerts.dispatcher import Dispatcher
from connectors.alerts.settings import AlertSettings
from connectors.kafka.topics import ALERTS, TopicSpec, ensure_topics
from pipeline.commands.common import kafka_bootstrap, log_to_console, stop_on_signals


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("alerts", help="the job's alerts: to Alertmanager or the duty officers' webhooks")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    dispatch = actions.add_parser(
        "dispatch",
        help="POST each raised and resolved alert to ALERTS_ALERTMANAGER_URL, else to ALERTS_WEBHOOK_URLS "
        "(none: log it), until stopped",
    )
    dispatch.add_argument("--once", action="store_true", help="stop once caught up (consumer lag 0)")
    dispatch.add_argument("--json", action="store_true", help="print the final stats as one JSON document")
    dispatch.add_argument("--group", help="consumer group (default ALERTS_GROUP_ID, else crossings-alerts)")
    dispatch.add_argument("--topic", default=ALERTS.name, help=f"topic to read (default {ALERTS.name})")
    dispatch.add_argument("--stats-interval", type=float, default=10.0, help="seconds between stats log lines")
    dispatch.set_defaults(handler=run_dispatch)


def run_dispatch(args: argparse.Namespace) -> int:
    log_to_console()
    settings = AlertSettings(**({"group_id": args.group} if args.group else {}))
    bootstrap = kafka_bootstrap()
    ensure_topics(bootstrap, [ALERTS if args.topic == ALERTS.name else TopicSpec(args.topic)])
    with stop_on_signals() as stop:
        dispatcher = Dispatcher(
            bootstrap,
            settings,
            topic=args.topic,
            stop=stop,
            stats_interval_s=args.stats_interval,
            metrics_port=settings.metrics_port,
        )
        stats = dispatcher.run(once=args.once)
    if args.json:
        print(json.dumps(stats.as_dict()))
    else:
        logging.getLogger("crossings.alerts").info(stats.line())
    stop.raise_if_signalled()
    return 0
