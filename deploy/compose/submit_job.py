"""Submits the crossings job to the compose stack's Flink cluster the way `crossings job submit`
submits it to the local one (`pipeline.runtime.submit`: `flink run --python
pipeline/jobs/crossings.py --pyFiles <packages> --jarfile <connector jars>`), detached, unless
a job of that name is already running there (a second `docker compose up` adds no second job).

Settings from the environment, as `.env.example` names them: KAFKA_BOOTSTRAP_SERVERS,
FLINK_PARALLELISM, FLINK_CONNECTOR_JARS_DIR and the PIPELINE_ variables of the job.

Run: python deploy/compose/submit_job.py --rest-url http://jobmanager:8081
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request

from connectors.kafka.settings import KafkaSettings
from deploy.services.settings import FlinkSettings
from pipeline.runtime import JOB_NAME, JOB_SCRIPT, submit

# Job states after which a job of the same name may be submitted again.
ENDED = {"FINISHED", "FAILED", "CANCELED"}


def running_jobs(rest_url: str, name: str) -> list[str]:
    """Ids of the jobs named `name` on the cluster at `rest_url` that have not ended."""
    with urllib.request.urlopen(f"{rest_url}/jobs/overview", timeout=10) as response:
        jobs = json.load(response)["jobs"]
    return [job["jid"] for job in jobs if job["name"] == name and job["state"] not in ENDED]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rest-url", required=True, help="REST address of the JobManager")
    args = parser.parse_args()
    bootstrap = KafkaSettings().bootstrap_servers
    if not bootstrap:
        print("KAFKA_BOOTSTRAP_SERVERS is not set", file=sys.stderr)
        return 2
    running = running_jobs(args.rest_url, JOB_NAME)
    if running:
        print(f"job {JOB_NAME} already runs on {args.rest_url}: {', '.join(running)}")
        return 0
    flink = FlinkSettings()
    submit(
        JOB_SCRIPT,
        ["--bootstrap", bootstrap, "--parallelism", str(flink.parallelism)],
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
