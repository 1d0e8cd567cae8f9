"""Subcommand groups of `crossings`; each module has `register(subparsers)`."""

from pipeline.commands import services

COMMAND_GROUPS = (services,)
