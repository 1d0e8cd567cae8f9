"""Subcommand groups of `crossings`; each module has `register(subparsers)`."""

from pipeline.commands import alerts, demo, events, forecast, grafana, job, load, report, services, status, warehouse

COMMAND_GROUPS = (services, status, events, job, forecast, warehouse, load, alerts, grafana, report, demo)
