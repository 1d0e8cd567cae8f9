"""Processes the runner owns: each in its own process group, logged to a file, stopped for sure.

Every group `start_group` (or `spawn`) starts is registered until it is stopped here or handed
over (`release`, for services meant to outlive the command). Inside `supervised()` SIGINT, SIGTERM
and SIGHUP raise `StoppedBySignal` in the main thread, as Ctrl-C raises KeyboardInterrupt, so every
`finally` and context manager on the way out runs; and on the way out of it every group the block
started and still registered is stopped. A child in a group of its own gets no signal meant for its parent
(a supervisor's SIGTERM, a terminal's SIGINT or SIGHUP): only this stops it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from contextlib import contextmanager
from pathlib import Path

from deploy.services.errors import ServiceError

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StoppedBySignal(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP arrived: handled like Ctrl-C; a command ends with
    `exit_status` (128 + the signal's number) and says `stopped by SIGTERM`."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


_owned: dict[int, subprocess.Popen] = {}  # leader pid -> process: the groups to stop on the way out
_signal_state = {"received": None, "raised": False, "deferred": 0}


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


def spawn(argv: Sequence[str], log_file: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen:
    """Start `argv` in a new process group with stdout and stderr appended to `log_file`."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        return start_group(argv, env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def start_group(argv: Sequence[str], env: Mapping[str, str] | None = None, **popen) -> subprocess.Popen:
    """Start `argv` in a new process group (`env` added to this process's environment),
    registered for stopping; a stop signal arriving meanwhile is raised once it is registered."""
    with _signals_deferred():
        process = subprocess.Popen(list(argv), env={**os.environ, **(env or {})}, start_new_session=True, **popen)
        _owned[process.pid] = process
    return process


def release(*pids: int) -> None:
    """Hand the groups led by `pids` over: they outlive this command (`crossings services up`)."""
    for pid in pids:
        _owned.pop(pid, None)


def stop_owned(grace_s: float = 10.0, but: Set[int] = frozenset()) -> None:
    """Stop every group started here and neither stopped nor released yet (`but` those)."""
    for pid, process in list(_owned.items()):
        if pid in but:
            continue
        if process.poll() is None or group_alive(pid):
            stop_group(pid, grace_s)
        _owned.pop(pid, None)


@contextmanager
def supervised() -> Iterator[None]:
    """While the block runs (in the main thread), SIGINT, SIGTERM and SIGHUP raise
    `StoppedBySignal`, once: a later signal only waits for the stop under way. On the way out, every
    group started in the block and not stopped or released is stopped; then the previous handlers
    come back."""
    previous = {sig: signal.signal(sig, _on_stop_signal) for sig in STOP_SIGNALS}
    _signal_state.update(received=None, raised=False, deferred=0)
    started_before = set(_owned)
    try:
        yield
    finally:
        _signal_state["deferred"] += 1  # nothing interrupts the last stops
        try:
            stop_owned(but=started_before)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            _signal_state.update(received=None, raised=False, deferred=0)


def _on_stop_signal(signum: int, _frame: object) -> None:
    state = _signal_state
    if state["received"] is None:
        state["received"] = signum
    if not state["raised"] and not state["deferred"]:
        state["raised"] = True
        raise StoppedBySignal(state["received"])


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """A stop signal arriving in the block is raised at its end (in the main thread: Python
    runs signal handlers there only), so a process is never started without being registered."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state = _signal_state
    state["deferred"] += 1
    try:
        yield
    finally:
        state["deferred"] -= 1
        if not state["deferred"] and state["received"] is not None and not state["raised"]:
            state["raised"] = True
            raise StoppedBySignal(state["received"])


def stop_group(pid: int, grace_s: float = 20.0) -> None:
    """SIGTERM the process group led by `pid`, then SIGKILL what is left after `grace_s`;
    returns once no process of the group is left (a child may outlive the leader)."""
    signals = ((signal.SIGTERM, grace_s),) if grace_s > 0 else ()
    for sig, wait_s in (*signals, (signal.SIGKILL, 5.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            _owned.pop(pid, None)
            return
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            _reap(pid)
            if not group_alive(pid):
                _owned.pop(pid, None)
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
