"""Subcommand groups of `crossings`; each module has `register(subparsers)`."""

from pipeline.commands import events, job, services

COMMAND_GROUPS = (services, events, job)
