"""SIGTERM (as systemd, Kubernetes or CI stop a command), SIGINT (Ctrl-C) and SIGHUP (a closed
terminal) to every command that starts processes: each command stops all of them and exits
non-zero, saying it was stopped. Each run has a folder of its own (its working folder, data dirs
and logs), so a process left over is one whose command line or working folder is the run's."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]  # the checkout: the jars are in .cache/ there
CROSSINGS = str(Path(sys.executable).parent / "crossings")
OUR_PREFIXES = ("CLICKHOUSE_", "KAFKA_", "FLINK_", "PIPELINE_", "LOADER_", "ALERTS_", "PRIVACY_")


def _processes_of(run: Path) -> dict[int, str]:
    """pid -> command line of every process (but this test's) whose command line mentions `run`
    or whose working folder is in it."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if str(run) in cmdline or Path(cwd).is_relative_to(run):
            found[int(proc.name)] = cmdline
    return found


class Run:
    """One command started as a subprocess in `folder`, its output in files there."""

    def __init__(self, folder: Path, argv: list[str], env: dict[str, str]) -> None:
        self.folder = folder
        self.stderr_path = folder / "stderr.txt"
        with (folder / "stdout.txt").open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(argv, cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def wait_for(self, ready: Callable[[], bool], what: str, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while not ready():
            assert self.process.poll() is None, (
                f"exited ({self.process.returncode}) before {what}:\n{self.stderr()[-3000:]}"
            )
            assert time.monotonic() < deadline, f"no {what} within {timeout_s:.0f} s:\n{self.stderr()[-3000:]}"
            time.sleep(0.5)

    def stop_with(self, sig: signal.Signals, timeout_s: float = 60) -> None:
        """Send `sig`; the command must end within `timeout_s`, non-zero, saying it was stopped,
        and leave no process of its folder."""
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {timeout_s:.0f} s after {sig.name}:\n{self.stderr()[-3000:]}")
        deadline = time.monotonic() + 5  # a process being reaped may show for a moment
        while _processes_of(self.folder) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _processes_of(self.folder) == {}
        assert self.process.returncode == 128 + sig, self.stderr()[-3000:]
        assert f"stopped by {sig.name}" in self.stderr(), self.stderr()[-3000:]

    def kill_leftovers(self) -> None:
        """Whatever the outcome, nothing of this run keeps running after the test."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for pid in _processes_of(self.folder):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def start(tmp_path: Path, kafka_broker) -> Iterator[Callable[..., Run]]:
    """start(*args, broker=True, program=crossings): `program *args` in a folder of its own (its
    temporary files too), with its own warehouse and a random HMAC key; `broker`:
    KAFKA_BOOTSTRAP_SERVERS is the session's broker."""
    runs: list[Run] = []

    def _start(*args: str, broker: bool = True, program: tuple[str, ...] = (CROSSINGS,)) -> Run:
        folder = tmp_path / f"run-{len(runs)}"
        folder.mkdir()
        env = {key: value for key, value in os.environ.items() if not key.startswith(OUR_PREFIXES)}
        env.update(
            PRIVACY_HMAC_KEY=secrets.token_hex(32),
            CLICKHOUSE_DATA_PATH=str(folder / "chdb"),
            KAFKA_JARS_DIR=str(ROOT / ".cache/jars/kafka"),
            FLINK_CONNECTOR_JARS_DIR=str(ROOT / ".cache/jars/flink"),
            FLINK_TASKMANAGERS="1",
            PYTHONUNBUFFERED="1",
            PYTHONPATH=str(ROOT),
            TMPDIR=str(folder),
        )
        if broker:
            env["KAFKA_BOOTSTRAP_SERVERS"] = kafka_broker.bootstrap
        runs.append(Run(folder, [*program, *args], env))
        return runs[-1]

    yield _start
    for run in runs:
        run.kill_leftovers()


def _has(run: Run, *parts: str) -> Callable[[], bool]:
    """Whether a process of the run has every one of `parts` in its command line."""
    return lambda: any(all(part in cmdline for part in parts) for cmdline in _processes_of(run.folder).values())


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=lambda sig: sig.name)
def test_job_run_stops_the_job_script_and_its_flink_jvm(start, sig):
    run = start("job", "run")
    run.wait_for(_has(run, "java", "PythonGatewayServer"), "Flink JVM under the job script")
    run.wait_for(_has(run, "pipeline/jobs/crossings.py"), "job script")
    time.sleep(3)  # the mini-cluster is starting the job
    run.stop_with(sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda sig: sig.name)
def test_load_stops(start, sig):
    run = start("load", "--stats-interval", "0.5")
    run.wait_for(lambda: "connectors.clickhouse.loader" in run.stderr(), "loader stats line")
    run.stop_with(sig)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=lambda sig: sig.name)
def test_alerts_dispatch_stops(start, sig):
    run = start("alerts", "dispatch", "--stats-interval", "0.5")
    run.wait_for(lambda: "dispatched 0 alerts" in run.stderr(), "dispatcher stats line")
    run.stop_with(sig)


def test_services_up_stopped_while_starting_stops_what_it_started(start):
    run = start("services", "up", broker=False)
    run.wait_for(_has(run, "-Dcrossings.service=kafka"), "Kafka broker")
    run.wait_for(_has(run, "-Dcrossings.service=flink"), "Flink JobManager")
    run.stop_with(signal.SIGTERM)


def test_demo_stops_its_broker_and_job(start):
    run = start("demo", "--sim-hours", "1", "--no-board", "--json", broker=False)
    run.wait_for(_has(run, "java", "PythonGatewayServer"), "the job's Flink JVM", timeout_s=180)
    run.stop_with(signal.SIGTERM, timeout_s=120)


def test_bench_job_stops_its_cluster_and_broker(start):
    run = start("--events", "200", "--live-s", "1", broker=False, program=(sys.executable, "-m", "bench.job"))
    run.wait_for(_has(run, "TaskManagerRunner"), "TaskManager", timeout_s=180)
    run.stop_with(signal.SIGTERM)
