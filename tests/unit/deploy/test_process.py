from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from deploy.services.errors import ServiceError
from deploy.services.process import (
    StoppedBySignal,
    free_port,
    group_alive,
    pid_alive,
    port_open,
    release,
    spawn,
    stop_group,
    supervised,
    wait_until,
)


def test_stop_group_ends_the_process_and_its_children(tmp_path):
    process = spawn(["bash", "-c", "sleep 300 & echo child=$!; wait"], tmp_path / "out.log")
    deadline = time.monotonic() + 5
    while "child=" not in (tmp_path / "out.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int((tmp_path / "out.log").read_text().split("child=")[1].split()[0])
    assert pid_alive(process.pid) and pid_alive(child)

    stop_group(process.pid, grace_s=5)
    process.wait(timeout=5)
    deadline = time.monotonic() + 5
    while pid_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(child)


def test_stop_group_escalates_to_sigkill(tmp_path):
    process = spawn(["bash", "-c", "trap '' TERM; echo ready; while true; do sleep 0.1; done"], tmp_path / "out.log")
    deadline = time.monotonic() + 5
    while "ready" not in (tmp_path / "out.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    stop_group(process.pid, grace_s=0.5)
    assert not pid_alive(process.pid)


def test_stop_group_returns_once_a_child_outliving_the_leader_is_gone(tmp_path):
    """Like the mini-cluster's JVM under the job's Python: the leader ends on SIGTERM, its
    child ignores it and is killed after the grace time."""
    process = spawn(
        ["bash", "-c", "(trap '' TERM; while true; do sleep 0.1; done) & echo child=$!; wait"], tmp_path / "out.log"
    )
    deadline = time.monotonic() + 5
    while "child=" not in (tmp_path / "out.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int((tmp_path / "out.log").read_text().split("child=")[1].split()[0])

    stop_group(process.pid, grace_s=0.5)
    assert not pid_alive(child)
    assert not group_alive(process.pid)


def test_wait_until_fails_early_with_the_log_tail(tmp_path):
    log = tmp_path / "service.log"
    process = spawn(["bash", "-c", "echo 'port already in use' >&2; exit 3"], log)
    with pytest.raises(ServiceError, match="exited while starting(.|\n)*port already in use"):
        wait_until(lambda: False, 10, "test service", lambda: process.poll() is None, log)


def test_wait_until_times_out_with_a_message(tmp_path):
    with pytest.raises(ServiceError, match="did not become ready within 0 s"):
        wait_until(lambda: False, 0.3, "test service", lambda: True, tmp_path / "none.log")


def test_free_port_is_free_and_port_open_sees_listeners():
    port = free_port()
    assert not port_open(port)
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        assert port_open(port)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda sig: sig.name)
def test_supervised_raises_a_stop_signal_as_ctrl_c_and_stops_the_groups_it_started(tmp_path, sig):
    """A supervisor's SIGTERM reaches the command alone (its children run in groups of their own):
    the command's `finally` blocks run, and no group it started outlives it."""
    before = signal.getsignal(sig)
    cleaned_up = []
    with pytest.raises(StoppedBySignal) as stopped, supervised():
        process = spawn(["bash", "-c", "sleep 300 & wait"], tmp_path / "out.log")
        try:
            os.kill(os.getpid(), sig)
            time.sleep(5)
        finally:
            cleaned_up.append(True)
    assert isinstance(stopped.value, KeyboardInterrupt) and cleaned_up
    assert str(stopped.value) == f"stopped by {sig.name}" and stopped.value.exit_status == 128 + sig
    assert not group_alive(process.pid)
    assert signal.getsignal(sig) is before


def test_supervised_raises_once_and_a_second_signal_does_not_cut_the_stop_short(tmp_path):
    steps = []
    with pytest.raises(StoppedBySignal, match="SIGTERM"), supervised():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            os.kill(os.getpid(), signal.SIGHUP)  # say, the terminal closing while stopping
            time.sleep(0.2)
            steps.append("stopped")
    assert steps == ["stopped"]


def test_supervised_stops_what_its_block_started_but_a_released_group(tmp_path):
    """`services up` hands its services over; a group started before the block (a test's
    session broker, say) is not the block's."""
    earlier = spawn(["sleep", "300"], tmp_path / "earlier.log")
    with supervised():
        kept = spawn(["sleep", "300"], tmp_path / "kept.log")
        left = spawn(["sleep", "300"], tmp_path / "left.log")
        release(kept.pid)
    try:
        assert group_alive(kept.pid) and group_alive(earlier.pid)
        assert not group_alive(left.pid)
    finally:
        stop_group(kept.pid, grace_s=1)
        stop_group(earlier.pid, grace_s=1)
