"""A server of the Prometheus family (Prometheus, Alertmanager) run by the local runner: one
process in a group of its own on 127.0.0.1, ready when `/-/ready` answers 200, stopped by `stop`
or by the context manager's exit (deploy/services/process.py)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

from deploy.services.process import pid_alive, port_open, spawn, stop_group, wait_until


def duration(seconds: float) -> str:
    """`seconds` as a Prometheus-family duration (milliseconds, at least 1)."""
    return f"{max(1, round(seconds * 1000))}ms"


class Daemon:
    """Subclasses set `name`, `port` and `log_file` and call `launch(argv, timeout_s)` from `start`."""

    name = "daemon"

    def __init__(self, port: int, log_file: Path) -> None:
        self.port, self.log_file = port, log_file
        self.pids: list[int] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        raise NotImplementedError

    def launch(self, argv: list[str], timeout_s: float) -> None:
        """Start `argv` (output to `log_file`) and wait until it is ready; stopped on any failure."""
        try:
            self.pids.append(spawn(argv, self.log_file).pid)
            wait_until(self.ready, timeout_s, f"{self.name} at {self.url}", self.running, self.log_file)
        except BaseException:
            self.stop()
            raise

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def running(self) -> bool:
        return bool(self.pids) and all(pid_alive(pid) for pid in self.pids)

    def stop(self) -> None:
        for pid in self.pids:
            stop_group(pid)
        self.pids = []
        # the leader is a zombie while its other threads still exit, holding the port a moment
        deadline = time.monotonic() + 5
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
