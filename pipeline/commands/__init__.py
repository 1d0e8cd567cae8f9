"""Subcommand groups of `crossings`; each module has `register(subparsers)`."""

from pipeline.commands import events, services

COMMAND_GROUPS = (services, events)
