"""`down` stops what `up` recorded and nothing else."""

from __future__ import annotations

import json
import subprocess

from deploy.services import LocalStack
from deploy.services.process import pid_alive
from pipeline.settings import FlinkSettings, KafkaSettings


def test_down_leaves_a_process_that_is_not_ours(tmp_path):
    stranger = subprocess.Popen(["sleep", "60"])
    state = tmp_path / "services.json"
    state.write_text(json.dumps({
        "kafka": {"bootstrap": "127.0.0.1:1", "pids": [stranger.pid], "log": "x"},
        "flink": {"rest": "http://127.0.0.1:2", "pids": [stranger.pid], "log": "y"},
    }))
    stack = LocalStack(KafkaSettings(), FlinkSettings(), state_file=state)
    try:
        assert stack.down() == []
        assert pid_alive(stranger.pid)
        assert not state.exists()
    finally:
        stranger.kill()
        stranger.wait()
