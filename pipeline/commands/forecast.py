"""`crossings forecast run|submit`: the forecast job (issue 21), locally or on the Flink cluster."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.commands.common import UserError
from pipeline.commands.job import job_args, run_and_submit, submit_script
from pipeline.jobs.settings import PipelineSettings
from pipeline.runtime import FORECAST_JOB_SCRIPT, run_local
from pipeline.transforms.forecast import profiles_from_json


def register(groups: argparse._SubParsersAction) -> None:
    parser = groups.add_parser("forecast", help="the forecast job: clearance 15-60 minutes ahead, early warnings")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run_parser, submit_parser = run_and_submit(actions, "crossings.clean")
    for action in (run_parser, submit_parser):
        action.add_argument(
            "--profile",
            type=Path,
            help="the profiles (JSON) the forecast reads "
            f"(default PIPELINE_FORECAST_PROFILE, else {PipelineSettings.model_fields['forecast_profile'].default})",
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


def forecast_args(args: argparse.Namespace, parallelism: int) -> list[str]:
    return job_args(args, parallelism, "--profile", str(profile_path(args)))


def run(args: argparse.Namespace) -> int:
    run_local(FORECAST_JOB_SCRIPT, forecast_args(args, args.parallelism), timeout_s=None, echo=True)
    return 0


def submit_job(args: argparse.Namespace) -> int:
    return submit_script(FORECAST_JOB_SCRIPT, args, lambda parallelism: forecast_args(args, parallelism))
