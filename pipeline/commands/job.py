"""`crossings job run|submit`: the crossings streaming job, locally or on the Flink cluster."""

from __future__ import annotations

import argparse

from deploy.services import LocalStack
from pipeline.commands.common import UserError, kafka_bootstrap
from pipeline.runtime import JOB_SCRIPT, run_local, submit
from pipeline.settings import FlinkSettings


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("job", help="the streaming job: validation, dedup, windows, alerts")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run_parser = actions.add_parser("run", help="run it in the local mini-cluster until stopped (Ctrl-C)")
    run_parser.add_argument("--parallelism", type=int, default=1)
    submit_parser = actions.add_parser(
        "submit", help="submit it to the standalone cluster (`crossings services up`) and return")
    submit_parser.add_argument("--parallelism", type=int, default=FlinkSettings().parallelism)
    submit_parser.add_argument("--wait", action="store_true", help="wait for the job to end (with --bounded)")
    for action in (run_parser, submit_parser):
        action.add_argument("--bounded", action="store_true",
                            help="read the raw topics from the start to their current end, then finish")
    run_parser.set_defaults(handler=run)
    submit_parser.set_defaults(handler=submit_job)


def job_args(args: argparse.Namespace) -> list[str]:
    return ["--bootstrap", kafka_bootstrap(), "--parallelism", str(args.parallelism),
            *(["--bounded"] if args.bounded else [])]


def run(args: argparse.Namespace) -> int:
    run_local(JOB_SCRIPT, job_args(args), timeout_s=None, echo=True)
    return 0


def submit_job(args: argparse.Namespace) -> int:
    flink = LocalStack.from_env().status()["flink"]
    if not flink["running"]:
        raise UserError("no Flink cluster: run `crossings services up`")
    output = submit(JOB_SCRIPT, job_args(args), flink["rest"], args.parallelism, timeout_s=None,
                    detached=not args.wait)
    print(output.strip().splitlines()[-1] if output.strip() else "submitted")
    return 0
