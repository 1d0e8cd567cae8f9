"""`crossings status --json` against a running stack (`services up`, the job submitted to its
cluster, `crossings load` exporting to its Prometheus): exit 0; then with the loader stopped:
exit 1, naming the loader and why."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

from deploy.services.process import free_port, start_group, stop_group

REPO = Path(__file__).resolve().parents[3]
CROSSINGS = str(Path(sys.executable).parent / "crossings")


def environment(folder: Path) -> dict[str, str]:
    return {
        **os.environ,
        "KAFKA_JARS_DIR": str(REPO / ".cache/jars/kafka"),
        "FLINK_CONNECTOR_JARS_DIR": str(REPO / ".cache/jars/flink"),
        "FLINK_TASKMANAGERS": "1",
        "FLINK_PARALLELISM": "1",
        "PROMETHEUS_SCRAPE_INTERVAL_S": "1",
        "LOADER_METRICS_PORT": str(free_port()),
        "ALERTS_METRICS_PORT": str(free_port()),
        "CLICKHOUSE_DATA_PATH": str(folder / "chdb"),
        "PIPELINE_CHECKPOINT_DIR": str(folder / "checkpoints"),
        "PRIVACY_HMAC_KEY": secrets.token_hex(32),
    }


def crossings(folder: Path, env: dict[str, str], *args: str, timeout_s: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([CROSSINGS, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=timeout_s)


def status_until(
    folder: Path, env: dict[str, str], code: int, timeout_s: float = 120, also=lambda report: True
) -> tuple[dict, str]:
    """`crossings status --json` until it exits `code` (and `also` holds of its document): its
    document and its stderr."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = crossings(folder, env, "status", "--json", timeout_s=60)
        if (result.returncode == code and also(json.loads(result.stdout))) or time.monotonic() > deadline:
            assert result.returncode == code, f"status exited {result.returncode}: {result.stdout} {result.stderr}"
            return json.loads(result.stdout), result.stderr
        time.sleep(1)


def test_status_of_a_running_stack_then_with_the_loader_stopped(tmp_path):
    env = environment(tmp_path)
    loader = None
    try:
        up = crossings(tmp_path, env, "services", "up")
        assert up.returncode == 0, up.stderr
        submitted = crossings(tmp_path, env, "job", "submit", timeout_s=300)
        assert submitted.returncode == 0, submitted.stderr
        with (tmp_path / "load.log").open("ab") as log:
            loader = start_group(
                [CROSSINGS, "load"], env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

        # the loader's lag is known once it has joined its group and read the end offsets
        report, stderr = status_until(tmp_path, env, 0, also=lambda report: report["loader"]["lag_records"] is not None)
        assert report["services"] == {"kafka": True, "flink": True, "alertmanager": True, "prometheus": True}
        assert report["job"]["state"] == "RUNNING"
        assert report["loader"]["up"] is True and report["loader"]["lag_records"] == 0
        assert report["problems"] == [] and stderr == ""

        stop_group(loader.pid)
        loader = None
        report, stderr = status_until(tmp_path, env, 1, timeout_s=30)
        assert report["loader"]["up"] is False and report["job"]["state"] == "RUNNING"
        assert report["problems"] == [
            "loader: down (Prometheus cannot scrape its metrics port; `crossings load` exports on LOADER_METRICS_PORT)"
        ]
        assert "loader: down" in stderr
    finally:
        if loader is not None:
            stop_group(loader.pid)
        crossings(tmp_path, env, "services", "down")
