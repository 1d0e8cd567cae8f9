"""Subcommand groups of `crossings`; each module has `register(subparsers)`."""

from pipeline.commands import events, job, load, services, warehouse

COMMAND_GROUPS = (services, events, job, warehouse, load)
