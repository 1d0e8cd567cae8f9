"""A real standalone Flink cluster (1 JobManager, N TaskManagers) from the PyFlink distribution.

Each process serves its metrics to Prometheus (the reporter of `plugins/metrics-prometheus`) on a
free port of its own (`metrics_ports`: the JobManager's first, then each TaskManager's)."""

from __future__ import annotations

import json
import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path
from string import Template

import pyflink

from deploy.services.errors import ServiceError
from deploy.services.process import free_port, kill_group, pid_alive, spawn, stop_group, wait_until
from deploy.services.settings import FlinkSettings
from schemas.privacy import PrivacySettings

CONF_TEMPLATE = Path(__file__).resolve().parent.parent / "flink" / "config.yaml"
MARKER = "-Dcrossings.service=flink"
METRICS_PORT_KEY = "metrics.reporter.prom.port"


def flink_home() -> Path:
    """The Flink distribution shipped inside the installed PyFlink package."""
    return Path(pyflink.__file__).resolve().parent


def taskmanager_environment(privacy: PrivacySettings) -> dict[str, str]:
    """What a TaskManager needs in its process environment, and nowhere in the job's plan or
    configuration: PRIVACY_HMAC_KEY, which the `crossing-json` format reads in open() to write
    dead letters' identifiers as refs. Empty when the key is unset (the format then fails at
    open(), naming the variable)."""
    key = privacy.hmac_key.get_secret_value()
    return {"PRIVACY_HMAC_KEY": key} if key else {}


class FlinkCluster:
    """Writes a config folder, starts the JobManager and TaskManagers in the foreground as
    children of their own process groups, and waits until all TaskManagers registered."""

    def __init__(self, settings: FlinkSettings, privacy: PrivacySettings) -> None:
        self.settings = settings
        self.privacy = privacy
        self.data_dir = self.settings.data_dir.resolve()
        self.rest_port = self.settings.rest_port or free_port()
        self.rpc_port = self.settings.rpc_port or free_port()
        self.pids: list[int] = []
        self.metrics_ports: list[int] = []  # of each process in `pids`, in the same order

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rest_port}"

    @property
    def metrics_targets(self) -> list[str]:
        """host:port of each process's Prometheus reporter (JobManager first)."""
        return [f"127.0.0.1:{port}" for port in self.metrics_ports]

    @property
    def conf_dir(self) -> Path:
        return self.data_dir / "conf"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "log"

    def env(self) -> dict[str, str]:
        """Environment for Flink's scripts (`bin/flink` included) to use this cluster."""
        return {
            "FLINK_CONF_DIR": str(self.conf_dir),
            "FLINK_LOG_DIR": str(self.log_dir),
            "FLINK_PID_DIR": str(self.data_dir),
            "PYFLINK_CLIENT_EXECUTABLE": sys.executable,
        }

    def start(self) -> FlinkCluster:
        if shutil.which("java") is None:
            raise ServiceError("java not found: install a Java 17+ runtime (Debian: openjdk-17-jre-headless)")
        self._write_config()
        try:
            self._spawn("jobmanager", 0)
            for index in range(self.settings.taskmanagers):
                self._spawn("taskmanager", index)
            wait_until(
                self._taskmanagers_registered,
                self.settings.start_timeout_s,
                f"Flink cluster at {self.rest_url}",
                lambda: all(pid_alive(pid) for pid in self.pids),
                self.log_dir / "jobmanager-0.out",
            )
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, role: str, index: int) -> None:
        script = flink_home() / "bin" / f"{role}.sh"
        # the TaskManagers' secrets go in their environment only, never in config.yaml or the job
        env = {**self.env(), **(taskmanager_environment(self.privacy) if role == "taskmanager" else {})}
        port = free_port()
        argv = ["bash", str(script), "start-foreground", "-D", f"{METRICS_PORT_KEY}={port}"]
        process = spawn(argv, self.log_dir / f"{role}-{index}.out", env)
        self.pids.append(process.pid)
        self.metrics_ports.append(port)

    def kill_taskmanager(self, index: int = 0) -> None:
        """Crash TaskManager `index` (SIGKILL to it and its Python workers), for failure tests."""
        pid = self.pids.pop(1 + index)
        self.metrics_ports.pop(1 + index)
        kill_group(pid)

    def kill(self) -> None:
        """Crash the whole cluster (SIGKILL to the JobManager and every TaskManager), for
        failure tests; `start` starts it again on the same ports."""
        for pid in self.pids:
            kill_group(pid)
        self.pids = []
        self.metrics_ports = []

    def start_taskmanager(self) -> None:
        """Start one more TaskManager, e.g. in place of a crashed one."""
        self._spawn("taskmanager", len(self.pids) - 1)

    def request(self, path: str, method: str = "GET") -> dict:
        """A call to the REST API (`path` like `/jobs/overview`), its JSON answer."""
        call = urllib.request.Request(f"{self.rest_url}{path}", method=method)
        with urllib.request.urlopen(call, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else {}

    def overview(self) -> dict | None:
        """The REST `/overview`, or None when the JobManager does not answer."""
        try:
            return self.request("/overview")
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def _taskmanagers_registered(self) -> bool:
        overview = self.overview()
        return overview is not None and overview.get("taskmanagers") == self.settings.taskmanagers

    def running(self) -> bool:
        return bool(self.pids) and all(pid_alive(pid) for pid in self.pids)

    def stop(self) -> None:
        for pid in reversed(self.pids):
            stop_group(pid)
        self.pids = []
        self.metrics_ports = []

    def __enter__(self) -> FlinkCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _write_config(self) -> None:
        s = self.settings
        text = Template(CONF_TEMPLATE.read_text()).substitute(
            marker=MARKER,
            rpc_port=self.rpc_port,
            rest_port=self.rest_port,
            jobmanager_memory=s.jobmanager_memory,
            taskmanager_memory=s.taskmanager_memory,
            slots=s.slots_per_taskmanager,
            parallelism=s.parallelism,
            data_dir=self.data_dir,
            python=sys.executable,
            metrics_port="9249-9260",  # Flink's own default range; each process is given one by -D
        )
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        (self.conf_dir / "config.yaml").write_text(text)
        for name in ("log4j.properties", "log4j-console.properties", "log4j-cli.properties"):
            shutil.copyfile(flink_home() / "conf" / name, self.conf_dir / name)
