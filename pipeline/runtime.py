"""How our PyFlink jobs run: the table environment they build, in the local mini-cluster
(`run_local`) or submitted to the standalone cluster with `bin/flink run -py` (`submit`)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlparse

from pipeline.settings import FlinkSettings

REPO_ROOT = Path(__file__).resolve().parent.parent
PYTHON_PACKAGES = ("pipeline", "schemas", "connectors")


class JobError(RuntimeError):
    """A job failed to run or to submit; the message carries the tail of its output."""


def connector_jars(settings: FlinkSettings | None = None) -> list[Path]:
    jars = sorted((settings or FlinkSettings()).connector_jars_dir.resolve().glob("*.jar"))
    if not jars:
        raise JobError("no Flink connector jars found: run `make setup` first")
    return jars


def table_environment(parallelism: int | None = None):
    """A streaming TableEnvironment with the Kafka connector on its classpath."""
    from pyflink.table import EnvironmentSettings, TableEnvironment

    env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    config = env.get_config()
    config.set("pipeline.jars", ";".join(jar.as_uri() for jar in connector_jars()))
    if parallelism is not None:
        config.set("parallelism.default", str(parallelism))
    return env


def run_local(script: Path, args: Sequence[str], timeout_s: float) -> str:
    """Run a job script in the local mini-cluster (a child JVM of this Python); returns its output."""
    return _run([sys.executable, str(script), *args], timeout_s, f"local run of {script.name}")


def submit(script: Path, args: Sequence[str], rest_url: str, parallelism: int, timeout_s: float) -> str:
    """Submit a job script to the standalone cluster at `rest_url` and wait for it to finish."""
    from deploy.services.flink import flink_home

    rest = urlparse(rest_url)
    argv = [
        str(flink_home() / "bin" / "flink"), "run",
        f"-Drest.address={rest.hostname}", f"-Drest.port={rest.port}",
        "--parallelism", str(parallelism),
        "--python", str(script),
        "--pyFiles", ",".join(str(REPO_ROOT / package) for package in PYTHON_PACKAGES),
        *(option for jar in connector_jars() for option in ("--jarfile", str(jar))),
        *args,
    ]
    return _run(argv, timeout_s, f"submission of {script.name} to {rest_url}")


def _run(argv: Sequence[str], timeout_s: float, what: str) -> str:
    env = {**os.environ, "PYFLINK_CLIENT_EXECUTABLE": sys.executable}
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
    )
    try:
        output, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired as error:
        raise JobError(f"{what} did not finish within {timeout_s:.0f} s") from error
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()
    if process.returncode != 0:
        tail = "\n".join(output.splitlines()[-30:])
        raise JobError(f"{what} failed (exit {process.returncode}):\n{tail}")
    return output
