from __future__ import annotations

import socket
import time

import pytest

from deploy.services.errors import ServiceError
from deploy.services.process import free_port, group_alive, pid_alive, port_open, spawn, stop_group, wait_until


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
    process = spawn(["bash", "-c", "(trap '' TERM; while true; do sleep 0.1; done) & echo child=$!; wait"],
                    tmp_path / "out.log")
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
