"""`crossings services up|status|down` from a fresh working folder, as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from deploy.services.process import port_open
from deploy.services.prometheus import query

REPO = Path(__file__).resolve().parents[3]
CROSSINGS = str(Path(sys.executable).parent / "crossings")


def _crossings(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "KAFKA_JARS_DIR": str(REPO / ".cache/jars/kafka"),
        "FLINK_CONNECTOR_JARS_DIR": str(REPO / ".cache/jars/flink"),
        "FLINK_TASKMANAGERS": "1",
        "PROMETHEUS_SCRAPE_INTERVAL_S": "1",
    }
    return subprocess.run([CROSSINGS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180)


def test_up_status_down(tmp_path):
    try:
        up = _crossings(tmp_path, "services", "up")
        assert up.returncode == 0, up.stderr
        status = json.loads(_crossings(tmp_path, "services", "status", "--json").stdout)
        assert status["kafka"]["running"] and status["flink"]["running"] and status["alertmanager"]["running"]
        bootstrap, rest, alerts = status["kafka"]["bootstrap"], status["flink"]["rest"], status["alertmanager"]["url"]
        assert bootstrap.startswith("127.0.0.1:") and rest.startswith("http://127.0.0.1:")

        with urllib.request.urlopen(f"{rest}/jobs/overview", timeout=5) as response:
            assert json.load(response) == {"jobs": []}
        with urllib.request.urlopen(f"{alerts}/api/v2/alerts", timeout=5) as response:
            assert json.load(response) == []
        # Flink's reporters (the JobManager's, the TaskManager's), scraped by the stack's Prometheus
        assert status["prometheus"]["running"] and len(status["flink"]["metrics"]) == 2
        for target, role in zip(status["flink"]["metrics"], ("jobmanager", "taskmanager")):
            with urllib.request.urlopen(f"http://{target}/metrics", timeout=5) as response:
                assert f"flink_{role}_Status_JVM_CPU_Load" in response.read().decode()
        prometheus = status["prometheus"]["url"]

        def flink_scraped() -> bool:
            up = query(prometheus, 'up{job="flink"} == 1')
            return sorted(series["metric"]["instance"] for series in up) == sorted(status["flink"]["metrics"])

        deadline = time.monotonic() + 30
        while not flink_scraped():
            assert time.monotonic() < deadline, "Prometheus did not scrape both of Flink's reporters in 30 s"
            time.sleep(0.5)
        if shutil.which("kcat"):
            listing = subprocess.run(["kcat", "-b", bootstrap, "-L"], capture_output=True, text=True, timeout=30)
            assert "1 brokers:" in listing.stdout

        pids = [
            pid
            for service in json.loads((tmp_path / "var/services.json").read_text()).values()
            for pid in service["pids"]
        ]
        down = _crossings(tmp_path, "services", "down")
        assert down.returncode == 0 and "stopped: " in down.stdout
    finally:
        _crossings(tmp_path, "services", "down")

    for pid in pids:
        assert not Path(f"/proc/{pid}/cmdline").exists() or not Path(f"/proc/{pid}/cmdline").read_bytes()
    assert not port_open(int(bootstrap.rsplit(":", 1)[1]))
    assert not port_open(int(rest.rsplit(":", 1)[1]))
    assert not port_open(int(alerts.rsplit(":", 1)[1]))
    assert not port_open(int(prometheus.rsplit(":", 1)[1]))
    after = json.loads(_crossings(tmp_path, "services", "status", "--json").stdout)
    assert after == {
        "kafka": {"bootstrap": None, "running": False},
        "flink": {"rest": None, "metrics": [], "running": False},
        "alertmanager": {"url": None, "running": False},
        "prometheus": {"url": None, "running": False},
    }


def test_up_without_jars_says_what_to_do(tmp_path):
    env = {**os.environ, "KAFKA_JARS_DIR": str(tmp_path / "nothing-here")}
    result = subprocess.run(
        [CROSSINGS, "services", "up"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "run `make setup` first" in result.stderr
    assert "Traceback" not in result.stderr
