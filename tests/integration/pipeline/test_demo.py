"""`crossings demo` as a newcomer runs it, shortened: it runs to its end by itself, every event
is accounted for in the embedded warehouse, `crossings sql` answers from it afterwards, and no
process it started is left; Ctrl-C ends it early the same clean way."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # the checkout: the jars are in .cache/ there
CROSSINGS = str(Path(sys.executable).parent / "crossings")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CLICKHOUSE_", "KAFKA_", "PIPELINE_", "LOADER_", "ALERTS_", "PRIVACY_"))
    }
    env.update(CLICKHOUSE_DATA_PATH=str(tmp_path / "chdb"), PRIVACY_HMAC_KEY=secrets.token_hex(32), COLUMNS="200")
    return env


def _processes_of(tmp_path: Path) -> list[str]:
    """Processes whose command line or environment mentions `tmp_path` (the broker's data dir,
    the job's checkpoint dir), other than this test's own."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            text = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
        except OSError:
            continue
        if str(tmp_path).encode() in text:
            found.append(f"{proc.name}: {(proc / 'cmdline').read_bytes()[:200]!r}")
    return found


def test_a_short_demo_runs_to_its_end_and_leaves_an_answering_warehouse(tmp_path):
    env = _env(tmp_path)
    result = subprocess.run(
        [
            CROSSINGS,
            "demo",
            "--sim-hours",
            "3",
            "--speed",
            "1080",
            "--no-board",
            "--json",
            "--work-dir",
            str(tmp_path / "work"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout)
    produced = summary["produced"]
    assert produced > 100 and not summary["interrupted"]
    counts = summary["counts"]
    assert counts["received"] == produced == counts["clean"] + counts["dead_letters"] + counts["duplicates"]
    assert counts["dead_letters"] == 0  # the simulator's events are valid and none lies ahead of the clock
    by_port = {row["port_code"]: row for row in summary["ports"]}
    produced_by_port = {port: count for port, count in summary["produced_by_port"].items() if count}
    assert {port: int(row["crossings"]) for port, row in by_port.items()} == produced_by_port
    assert len(produced_by_port) >= 4  # the ports open at night: Huanggang, Shenzhen Bay, the airport, Yantian
    assert all(0 < row["p50_s"] <= row["p90_s"] <= row["p99_s"] for row in by_port.values())
    report = Path(summary["report"])
    assert report.is_file() and "<svg" in report.read_text()

    # the days before the period hold the simulated history the forecast's profiles come from
    period = f"toDate(released_at, 'Asia/Shanghai') >= '{summary['days'][0]}'"
    answer = subprocess.run(
        [CROSSINGS, "sql", f"SELECT count() AS n FROM crossings FINAL WHERE {period}", "--format", "json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode == 0, answer.stderr
    assert int(json.loads(answer.stdout)[0]["n"]) == produced
    # the forecast job issued forecasts of the period, each port, kind and direction every minute
    assert summary["forecasts"] > 0
    assert all(row["advice"] is None or row["advice"].startswith("divert to ") for row in summary["early_warnings"])
    assert _processes_of(tmp_path) == []


def test_ctrl_c_stops_every_process_and_still_summarises(tmp_path):
    work = tmp_path / "work"
    demo = subprocess.Popen(
        [CROSSINGS, "demo", "--sim-hours", "24", "--speed", "240", "--no-board", "--json", "--work-dir", str(work)],
        cwd=ROOT,
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not (work / "logs" / "job.log").exists() or not _processes_of(tmp_path):
            assert demo.poll() is None and time.monotonic() < deadline, "the demo did not start its job"
            time.sleep(1)
        time.sleep(15)  # the broker, the job and the threads are running
        demo.send_signal(signal.SIGINT)
        stdout, stderr = demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 130, stderr[-3000:]
    summary = json.loads(stdout)
    assert summary["interrupted"] and summary["produced"] > 0
    assert _processes_of(tmp_path) == []
