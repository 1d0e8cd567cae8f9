"""Subcommand groups of `crossings`; each module has `register(subparsers)`."""

from pipeline.commands import alerts, demo, events, grafana, job, load, report, services, warehouse

COMMAND_GROUPS = (services, events, job, warehouse, load, alerts, grafana, report, demo)
