"""`crossings job run|submit`: the crossings streaming job, locally or on the Flink cluster."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from deploy.services.settings import FlinkSettings
from pipeline.commands.common import UserError, kafka_bootstrap, local_stack
from pipeline.jobs.settings import PipelineSettings
from pipeline.runtime import JOB_NAME, JOB_SCRIPT, run_local, running_job_id, stop_with_savepoint, submit


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("job", help="the streaming job: validation, dedup, windows, alerts")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run_parser, submit_parser = run_and_submit(actions, "the raw topics")
    submit_parser.add_argument(
        "--from-savepoint", metavar="PATH", help="start from a savepoint (the path `crossings job stop` printed)"
    )
    stop_parser = actions.add_parser(
        "stop", help="stop the job on the cluster with a savepoint (resume: submit --from-savepoint PATH)"
    )
    stop_parser.add_argument(
        "--savepoint-dir",
        type=Path,
        default=None,
        help="where the savepoint goes (default PIPELINE_CHECKPOINT_DIR/savepoints)",
    )
    stop_parser.set_defaults(handler=stop_job)
    run_parser.set_defaults(handler=run)
    submit_parser.set_defaults(handler=submit_job)


def run_and_submit(
    actions: argparse._SubParsersAction, reads: str
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """The `run` and `submit` actions of a job reading `reads`, with what both take."""
    run_parser = actions.add_parser("run", help="run it in the local mini-cluster until stopped (Ctrl-C)")
    run_parser.add_argument("--parallelism", type=int, default=1)
    submit_parser = actions.add_parser(
        "submit", help="submit it to the standalone cluster (`crossings services up`) and return"
    )
    submit_parser.add_argument(
        "--parallelism",
        type=int,
        help=f"default FLINK_PARALLELISM, else {FlinkSettings.model_fields['parallelism'].default}",
    )
    submit_parser.add_argument("--wait", action="store_true", help="wait for the job to end (with --bounded)")
    for action in (run_parser, submit_parser):
        action.add_argument(
            "--bounded",
            action="store_true",
            help=f"read {reads} from the start to the current end, then finish",
        )
    return run_parser, submit_parser


def job_args(args: argparse.Namespace, parallelism: int, *options: str) -> list[str]:
    """A job script's arguments: the broker, its `options`, parallelism and boundedness."""
    return [
        "--bootstrap",
        kafka_bootstrap(),
        *options,
        "--parallelism",
        str(parallelism),
        *(["--bounded"] if args.bounded else []),
    ]


def run(args: argparse.Namespace) -> int:
    run_local(JOB_SCRIPT, job_args(args, args.parallelism), timeout_s=None, echo=True)
    return 0


def cluster_rest() -> str:
    flink = local_stack().status()["flink"]
    if not flink["running"]:
        raise UserError("no Flink cluster: run `crossings services up`")
    return flink["rest"]


def submit_script(
    script: Path, args: argparse.Namespace, arguments: Callable[[int], list[str]], **options: str | None
) -> int:
    """Submit a job script with `arguments(parallelism)` to the cluster of `crossings services up`."""
    flink = FlinkSettings()
    parallelism = flink.parallelism if args.parallelism is None else args.parallelism
    output = submit(
        script,
        arguments(parallelism),
        cluster_rest(),
        parallelism,
        timeout_s=None,
        flink=flink,
        detached=not args.wait,
        **options,
    )
    print(output.strip().splitlines()[-1] if output.strip() else "submitted")
    return 0


def submit_job(args: argparse.Namespace) -> int:
    return submit_script(
        JOB_SCRIPT, args, lambda parallelism: job_args(args, parallelism), from_savepoint=args.from_savepoint
    )


def stop_job(args: argparse.Namespace) -> int:
    rest = cluster_rest()
    directory = args.savepoint_dir or PipelineSettings().checkpoint_dir / "savepoints"
    path = stop_with_savepoint(rest, running_job_id(rest, JOB_NAME), directory, timeout_s=600)
    print(f"stopped with a savepoint: {path}\nresume: crossings job submit --from-savepoint {path}")
    return 0
