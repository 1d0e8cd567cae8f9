"""Submits a job of the pipeline (`--job crossings` or `--job forecast`) to the compose stack's
Flink cluster the way `crossings job submit` and `crossings forecast submit` submit it to the
local one (`pipeline.runtime.submit`: `flink run --python pipeline/jobs/<job>.py --pyFiles
<packages> --jarfile <connector jars>`), detached, unless a job of that name is already running
there (a second `docker compose up` adds no second job).

Settings from the environment, as `.env.example` names them: KAFKA_BOOTSTRAP_SERVERS,
FLINK_PARALLELISM, FLINK_CONNECTOR_JARS_DIR and the PIPELINE_ variables of the job (the forecast
job's profiles: PIPELINE_FORECAST_PROFILE, read by `flink run` here, where the job is planned;
without that file the forecast job is not submitted and the exit status is 2).

Run: python deploy/compose/submit_job.py --job crossings --rest-url http://jobmanager:8081
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from connectors.kafka.settings import KafkaSettings
from deploy.services.settings import FlinkSettings
from pipeline.jobs.settings import PipelineSettings
from pipeline.runtime import FORECAST_JOB_NAME, FORECAST_JOB_SCRIPT, JOB_NAME, JOB_SCRIPT, submit

# Job states after which a job of the same name may be submitted again.
ENDED = {"FINISHED", "FAILED", "CANCELED"}


class Job(NamedTuple):
    script: Path
    name: str  # what the script runs as on the cluster
    options: Callable[[], list[str]]  # the script's own arguments, besides broker and parallelism


def forecast_options() -> list[str]:
    """--profile: the file `crossings forecast learn` wrote, which it does not while the warehouse
    holds no crossing of the past days."""
    path = PipelineSettings().forecast_profile.resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no forecast profiles at {path} (`crossings forecast learn` wrote none)")
    return ["--profile", str(path)]


JOBS = {
    "crossings": Job(JOB_SCRIPT, JOB_NAME, list),
    "forecast": Job(FORECAST_JOB_SCRIPT, FORECAST_JOB_NAME, forecast_options),
}


def running_jobs(rest_url: str, name: str) -> list[str]:
    """Ids of the jobs named `name` on the cluster at `rest_url` that have not ended."""
    with urllib.request.urlopen(f"{rest_url}/jobs/overview", timeout=10) as response:
        jobs = json.load(response)["jobs"]
    return [job["jid"] for job in jobs if job["name"] == name and job["state"] not in ENDED]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--job", required=True, choices=sorted(JOBS), help="the job to submit")
    parser.add_argument("--rest-url", required=True, help="REST address of the JobManager")
    args = parser.parse_args(argv)
    job = JOBS[args.job]
    bootstrap = KafkaSettings().bootstrap_servers
    if not bootstrap:
        print("KAFKA_BOOTSTRAP_SERVERS is not set", file=sys.stderr)
        return 2
    running = running_jobs(args.rest_url, job.name)
    if running:
        print(f"job {job.name} already runs on {args.rest_url}: {', '.join(running)}")
        return 0
    try:
        options = job.options()
    except FileNotFoundError as error:
        print(f"{error}: {job.name} not submitted", file=sys.stderr)
        return 2
    flink = FlinkSettings()
    submit(
        job.script,
        ["--bootstrap", bootstrap, *options, "--parallelism", str(flink.parallelism)],
        args.rest_url,
        flink.parallelism,
        timeout_s=None,
        flink=flink,
        detached=True,
        echo=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
