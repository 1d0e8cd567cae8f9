"""`down` stops what `up` recorded and nothing else."""

from __future__ import annotations

import json
import subprocess
import time

from connectors.kafka.settings import KafkaSettings
from deploy.services import LocalStack
from deploy.services.process import pid_alive
from deploy.services.settings import FlinkSettings
from schemas.privacy import PrivacySettings


def test_down_leaves_a_process_that_is_not_ours(tmp_path):
    stranger = subprocess.Popen(["sleep", "60"])
    state = tmp_path / "services.json"
    state.write_text(
        json.dumps(
            {
                "kafka": {"bootstrap": "127.0.0.1:1", "pids": [stranger.pid], "log": "x"},
                "flink": {"rest": "http://127.0.0.1:2", "pids": [stranger.pid], "log": "y"},
            }
        )
    )
    stack = LocalStack(KafkaSettings(), FlinkSettings(), PrivacySettings(), state_file=state)
    try:
        assert stack.down() == []
        assert pid_alive(stranger.pid)
        assert not state.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_only_the_taskmanagers_get_the_hmac_key_and_only_in_their_environment(tmp_path, monkeypatch):
    """The crossing-json format reads PRIVACY_HMAC_KEY from the TaskManager's environment: the
    standalone cluster's TaskManagers start with it, and it is in no config file or argument."""
    from deploy.services import flink

    key = "k3y-" + "x" * 40
    monkeypatch.setenv("PRIVACY_HMAC_KEY", key)
    started = []
    monkeypatch.setattr(
        flink, "spawn", lambda argv, log, env: started.append((argv, env)) or type("Process", (), {"pid": 0})()
    )
    cluster = flink.FlinkCluster(FlinkSettings(data_dir=tmp_path, rest_port=1, rpc_port=2), PrivacySettings())
    cluster._write_config()
    cluster._spawn("jobmanager", 0)
    cluster._spawn("taskmanager", 0)
    (jobmanager_argv, jobmanager_env), (taskmanager_argv, taskmanager_env) = started
    assert taskmanager_env["PRIVACY_HMAC_KEY"] == key
    assert "PRIVACY_HMAC_KEY" not in jobmanager_env and "PRIVACY_HMAC_KEY" not in cluster.env()
    assert key not in " ".join(jobmanager_argv + taskmanager_argv)
    assert all(key not in path.read_text() for path in tmp_path.rglob("*") if path.is_file())


def test_down_stops_the_alertmanager_up_recorded(tmp_path):
    from deploy.services.alertmanager import Alertmanager
    from deploy.services.process import port_open, release, stop_group
    from deploy.services.settings import AlertmanagerSettings

    manager = Alertmanager(AlertmanagerSettings(_env_file=None, data_dir=tmp_path / "am")).start()
    release(*manager.pids)  # as `up` hands its services over
    state = tmp_path / "services.json"
    entry = {"url": manager.url, "pids": manager.pids, "log": str(manager.log_file)}
    state.write_text(json.dumps({"alertmanager": entry}))
    stack = LocalStack(
        KafkaSettings(), FlinkSettings(), PrivacySettings(), state_file=state, alertmanager_settings=manager.settings
    )
    try:
        assert stack.status()["alertmanager"] == {"url": manager.url, "running": True}
        assert stack.down() == [f"alertmanager (pid {manager.pids[0]})"]
        assert not pid_alive(manager.pids[0])
        deadline = time.monotonic() + 5  # its threads may hold the port a moment after the leader
        while port_open(manager.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not port_open(manager.port)
    finally:
        for pid in manager.pids:
            if pid_alive(pid):
                stop_group(pid)
