"""How our PyFlink jobs run: the table environment they build, in the local mini-cluster
(`run_local`) or submitted to the standalone cluster with `bin/flink run -py` (`submit`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlparse

from deploy.services.flink import flink_home, taskmanager_environment
from deploy.services.process import free_port, spawn, start_group, stop_group
from deploy.services.settings import FlinkSettings
from schemas.privacy import PrivacySettings

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON_PACKAGES = ("pipeline", "schemas", "connectors", "deploy")
JOB_SCRIPT = REPO_ROOT / "pipeline" / "jobs" / "crossings.py"
JOB_NAME = "crossings"  # what JOB_SCRIPT runs as, on a cluster too
FORECAST_JOB_SCRIPT = REPO_ROOT / "pipeline" / "jobs" / "forecast.py"
FORECAST_JOB_NAME = "crossings-forecast"  # what FORECAST_JOB_SCRIPT runs as
REPORTER_FACTORY = "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
STOP_GRACE_S = 10.0  # a stopped run's JVM gets this long after SIGTERM, then SIGKILL


class JobError(RuntimeError):
    """A job failed to run or to submit; the message carries the tail of its output."""


def connector_jars(settings: FlinkSettings) -> list[Path]:
    jars = sorted(settings.connector_jars_dir.resolve().glob("*.jar"))
    if not jars:
        raise JobError("no Flink connector jars found: run `make setup` first")
    return jars


def stream_environments(flink: FlinkSettings, privacy: PrivacySettings, parallelism: int | None = None):
    """A StreamExecutionEnvironment and its StreamTableEnvironment (UTC session time zone),
    with the Kafka connector on the classpath. A local environment's mini-cluster is a JVM
    this process starts, with this process's environment: the TaskManager variables go there
    first (on a cluster they are set where its TaskManagers start)."""
    from pyflink.datastream import StreamExecutionEnvironment
    from pyflink.table import StreamTableEnvironment

    os.environ.update(taskmanager_environment(privacy))
    env = StreamExecutionEnvironment.get_execution_environment(local_reporter(flink.local_metrics_port))
    env.add_jars(*(jar.as_uri() for jar in connector_jars(flink)))
    if parallelism is not None:
        env.set_parallelism(parallelism)
    table_env = StreamTableEnvironment.create(env)
    table_env.get_config().set("table.local-time-zone", "UTC")
    return env, table_env


def local_reporter(port: int | None):
    """The configuration of a local environment whose mini-cluster serves its metrics to
    Prometheus on `port` (0: a free one, printed); None without a port. The mini-cluster does not
    load plugins, so the reporter's jar from `plugins/metrics-prometheus` goes on the classpath of
    the JVM that PyFlink starts, which takes HADOOP_CLASSPATH in (set before it starts)."""
    if port is None:
        return None
    from pyflink.common import Configuration

    jars = [str(jar) for jar in sorted((flink_home() / "plugins" / "metrics-prometheus").glob("*.jar"))]
    os.environ["HADOOP_CLASSPATH"] = os.pathsep.join(filter(None, [*jars, os.environ.get("HADOOP_CLASSPATH")]))
    port = port or free_port()
    print(f"Flink metrics of the mini-cluster on port {port}", flush=True)
    config = Configuration()
    config.set_string("metrics.reporter.prom.factory.class", REPORTER_FACTORY)
    config.set_string("metrics.reporter.prom.port", str(port))
    return config


def run_local(
    script: Path, args: Sequence[str], timeout_s: float | None, echo: bool = False, env: Mapping[str, str] | None = None
) -> str:
    """Run a job script in the local mini-cluster (a child JVM of this Python); returns its
    output. `env` adds to this process's environment (settings of the job)."""
    return _run([sys.executable, str(script), *args], timeout_s, f"local run of {script.name}", echo, env)


def start_local(
    script: Path, args: Sequence[str], log_file: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen:
    """Start a job script in the local mini-cluster and return at once: the script's Python
    and the mini-cluster's JVM in a process group of their own, output appended to `log_file`.
    `deploy.services.process.stop_group` stops both."""
    return spawn(
        [sys.executable, str(script), *args], log_file, {**(env or {}), "PYFLINK_CLIENT_EXECUTABLE": sys.executable}
    )


def submit(
    script: Path,
    args: Sequence[str],
    rest_url: str,
    parallelism: int,
    timeout_s: float | None,
    *,
    flink: FlinkSettings,
    detached: bool = False,
    echo: bool = False,
    env: Mapping[str, str] | None = None,
    from_savepoint: str | None = None,
) -> str:
    """Submit a job script to the standalone cluster at `rest_url`; unless `detached`, wait
    for the job to finish. With `from_savepoint`, its state starts from that savepoint (a path
    `stop_with_savepoint` returned). The job's packages travel as one folder holding them (a package
    folder given alone would become the import root: `connectors/kafka` would hide the
    `kafka` client library)."""
    rest = urlparse(rest_url)
    with tempfile.TemporaryDirectory(prefix="crossings-job-") as bundle:
        for package in PYTHON_PACKAGES:
            shutil.copytree(
                REPO_ROOT / package,
                Path(bundle) / package,
                ignore=shutil.ignore_patterns("__pycache__", "jvm", "compose", "k8s"),
            )
        argv = [
            str(flink_home() / "bin" / "flink"),
            "run",
            f"-Drest.address={rest.hostname}",
            f"-Drest.port={rest.port}",
            # a job with Python functions runs them with this interpreter (with pyflink), not `python`
            f"-Dpython.executable={sys.executable}",
            "--parallelism",
            str(parallelism),
            *(["--detached"] if detached else []),
            *(["--fromSavepoint", from_savepoint] if from_savepoint else []),
            "--python",
            str(script),
            "--pyFiles",
            bundle,
            *(option for jar in connector_jars(flink) for option in ("--jarfile", str(jar))),
            *args,
        ]
        return _run(argv, timeout_s, f"submission of {script.name} to {rest_url}", echo, env)


def running_job_id(rest_url: str, name: str) -> str:
    """The id of the running job called `name` on the cluster at `rest_url`."""
    with urllib.request.urlopen(f"{rest_url}/jobs/overview", timeout=10) as response:
        jobs = json.loads(response.read())["jobs"]
    running = [job["jid"] for job in jobs if job["name"] == name and job["state"] == "RUNNING"]
    if len(running) != 1:
        raise JobError(f"{len(running)} running jobs called {name!r} on {rest_url}, expected one")
    return running[0]


def stop_with_savepoint(rest_url: str, job_id: str, directory: Path, timeout_s: float | None) -> str:
    """Stop a job gracefully (`flink stop`): its sources stop, a final savepoint is written
    under `directory` and its Kafka transactions commit. Returns the savepoint's path."""
    rest = urlparse(rest_url)
    output = _run(
        [
            str(flink_home() / "bin" / "flink"),
            "stop",
            f"-Drest.address={rest.hostname}",
            f"-Drest.port={rest.port}",
            "--savepointPath",
            directory.resolve().as_uri(),
            job_id,
        ],
        timeout_s,
        f"stop of job {job_id} with a savepoint",
    )
    found = re.search(r"Savepoint completed\. Path: (\S+)", output)
    if found is None:
        raise JobError(f"flink stop gave no savepoint path:\n{output[-2000:]}")
    return found.group(1)


def _run(
    argv: Sequence[str], timeout_s: float | None, what: str, echo: bool = False, env: Mapping[str, str] | None = None
) -> str:
    """Run `argv` in its own process group (a job script and its Flink JVM), stopped on timeout,
    error, Ctrl-C, SIGTERM or SIGHUP; with `echo`, its output goes to stderr as it comes (and
    there is no timeout)."""
    process = start_group(
        argv,
        {**(env or {}), "PYFLINK_CLIENT_EXECUTABLE": sys.executable},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        if echo:
            tail: deque[str] = deque(maxlen=30)
            for line in process.stdout:
                sys.stderr.write(line)
                tail.append(line)
            process.wait()
            output = "".join(tail)
        else:
            output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired as error:
        raise JobError(f"{what} did not finish within {timeout_s:.0f} s") from error
    finally:
        stop_group(process.pid, grace_s=STOP_GRACE_S)  # what is left of the group, if anything
        process.wait()
    if process.returncode != 0:
        # Java stack frames would push the Python traceback out of the tail
        tail = "\n".join([line for line in output.splitlines() if not line.lstrip().startswith("at ")][-40:])
        raise JobError(f"{what} failed (exit {process.returncode}):\n{tail}")
    return output
