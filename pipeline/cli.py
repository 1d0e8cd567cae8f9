"""`crossings`: the one command line of the project; each group lives in `pipeline/commands/`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from deploy.services.process import supervised
from pipeline.commands import COMMAND_GROUPS
from pipeline.commands.common import UserError
from pipeline.commands.examples import add_examples
from pipeline.settings import settings_error_line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crossings", description="Streaming analytics for Shenzhen's border ports.")
    groups = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(groups)
    add_examples(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # SIGTERM and SIGHUP end a command as Ctrl-C does, and no process it started outlives it
    with supervised():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        return args.handler(args) or 0
    except KeyboardInterrupt as stopped:  # Ctrl-C, SIGTERM or SIGHUP: StoppedBySignal
        print(f"crossings {args.command}: {stopped or 'interrupted'}", file=sys.stderr)
        return getattr(stopped, "exit_status", 130)
    except ValidationError as error:
        line = settings_error_line(error)
        if line is None:
            raise
        print(f"crossings {args.command}: {line}", file=sys.stderr)
        return 2
    except Exception as error:
        if not _is_user_error(error):
            raise
        print(f"crossings {args.command}: {error}", file=sys.stderr)
        return 1


def _is_user_error(error: Exception) -> bool:
    from connectors.clickhouse import WarehouseError
    from deploy.services import ServiceError
    from pipeline.runtime import JobError

    return isinstance(error, UserError | ServiceError | JobError | WarehouseError)


if __name__ == "__main__":
    sys.exit(main())
