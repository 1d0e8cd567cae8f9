"""Processes the runner owns: each in its own process group, logged to a file, stopped for sure."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from deploy.services.errors import ServiceError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = Path(f"/proc/{pid}/stat")
    return not (state.exists() and state.read_text().split(")")[-1].split()[0] == "Z")


def group_alive(pgid: int) -> bool:
    """Whether a process of the process group `pgid` is alive (zombies aside)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, group = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError):
            continue
        if int(group) == pgid and state != "Z":
            return True
    return False


def cmdline(pid: int) -> str:
    """The command line of `pid`, '' if it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def spawn(
    argv: Sequence[str], log_file: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen:
    """Start `argv` in a new process group with stdout and stderr appended to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )


def stop_group(pid: int, grace_s: float = 20.0) -> None:
    """SIGTERM the process group led by `pid`, then SIGKILL what is left after `grace_s`;
    returns once no process of the group is left (a child may outlive the leader)."""
    signals = ((signal.SIGTERM, grace_s),) if grace_s > 0 else ()
    for sig, wait_s in (*signals, (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            _reap(pid)
            if not group_alive(pid):
                return
            time.sleep(0.1)
    raise ServiceError(f"process {pid} did not stop after SIGKILL")


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by `pid` at once (a crash, not a shutdown)."""
    stop_group(pid, grace_s=0.0)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def wait_until(
    ready: Callable[[], bool],
    timeout_s: float,
    what: str,
    alive: Callable[[], bool],
    log_file: Path,
) -> None:
    """Poll `ready` until it holds; fail early with the log's tail if the process died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if ready():
            return
        if not alive():
            raise ServiceError(f"{what} exited while starting; see {log_file}:\n{tail(log_file)}")
        time.sleep(0.25)
    raise ServiceError(f"{what} did not become ready within {timeout_s:.0f} s; see {log_file}")


def tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log written)"
