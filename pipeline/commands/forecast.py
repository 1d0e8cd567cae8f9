"""`crossings forecast learn|run|submit`: the forecast job's profiles learnt from the warehouse,
and the job (issue 21), locally or on the Flink cluster."""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta
from pathlib import Path

from connectors.clickhouse import open_warehouse
from connectors.clickhouse.settings import ClickHouseSettings
from pipeline.commands.common import UserError
from pipeline.commands.job import job_args, run_and_submit, submit_script
from pipeline.jobs.forecast_profile import learn_from_warehouse
from pipeline.jobs.settings import PipelineSettings
from pipeline.runtime import FORECAST_JOB_SCRIPT, run_local
from pipeline.transforms.forecast import profiles_from_json, profiles_to_json
from schemas.ports import SHENZHEN_TZ

DEFAULT_PROFILE = PipelineSettings.model_fields["forecast_profile"].default


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("forecast", help="the forecast job: clearance 15-60 minutes ahead, early warnings")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    learn_parser = actions.add_parser(
        "learn", help="learn the profiles from the past days in the warehouse and write them for the job"
    )
    learn_parser.add_argument("--days", type=int, default=7, help="how many local days (default 7)")
    learn_parser.add_argument(
        "--to", type=date.fromisoformat, help="the last day, YYYY-MM-DD (default yesterday in Shenzhen)"
    )
    learn_parser.set_defaults(handler=learn)
    run_parser, submit_parser = run_and_submit(actions, "crossings.clean")
    for action in (learn_parser, run_parser, submit_parser):
        action.add_argument(
            "--profile",
            type=Path,
            help=f"the profiles' file (JSON) (default PIPELINE_FORECAST_PROFILE, else {DEFAULT_PROFILE})",
        )
    run_parser.set_defaults(handler=run)
    submit_parser.set_defaults(handler=submit_job)


def profile_path(args: argparse.Namespace) -> Path:
    """The profiles' file, checked whole before a job reads it."""
    path = (args.profile or PipelineSettings().forecast_profile).resolve()
    try:
        profiles_from_json(path.read_text())
    except OSError as error:
        raise UserError(f"cannot read the forecast profiles {path}: {error.strerror or error}") from error
    except (ValueError, KeyError, TypeError) as error:
        raise UserError(f"the forecast profiles {path} are not valid: {error!r}") from error
    return path


def learn(args: argparse.Namespace) -> int:
    if args.days < 1:
        raise UserError("--days must be at least 1")
    last = args.to or datetime.now(SHENZHEN_TZ).date() - timedelta(days=1)
    first = last - timedelta(days=args.days - 1)
    with open_warehouse(ClickHouseSettings()) as warehouse:
        profiles = learn_from_warehouse(warehouse, first, last)
    if not profiles:
        raise UserError(f"the warehouse holds no crossing released from {first} to {last}: nothing to learn from")
    path = args.profile or PipelineSettings().forecast_profile
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(profiles_to_json(profiles))
    print(f"{len(profiles)} profiles (port, kind, direction) from {first} to {last} written to {path}")
    return 0


def forecast_args(args: argparse.Namespace, parallelism: int) -> list[str]:
    return job_args(args, parallelism, "--profile", str(profile_path(args)))


def run(args: argparse.Namespace) -> int:
    run_local(FORECAST_JOB_SCRIPT, forecast_args(args, args.parallelism), timeout_s=None, echo=True)
    return 0


def submit_job(args: argparse.Namespace) -> int:
    return submit_script(FORECAST_JOB_SCRIPT, args, lambda parallelism: forecast_args(args, parallelism))
