"""Subcommand groups of `crossings`; each module has `register(subparsers)`."""

from pipeline.commands import alerts, events, grafana, job, load, services, warehouse

COMMAND_GROUPS = (services, events, job, warehouse, load, alerts, grafana)
