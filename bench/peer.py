"""The Quix Streams peer in `make bench`: runs bench/peers/quix_crossings.py from its own
virtualenv over the raw topics, and compares its final windows with the job's.

The job publishes its windows as upserts (the last value per key is the result); the peer
reports each window once, when it closes. Every window the peer reports must be among the
job's with the same crossings and, for clearance, the same mean, p50, p90, p99 and max (within
1e-6 s).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import time
import uuid
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource

from connectors.kafka.topics import CLEARANCE, RAW_TOPICS, THROUGHPUT

REPO = Path(__file__).resolve().parent.parent
QUIX_PYTHON = REPO / ".cache" / "venv-quix" / "bin" / "python"
PEER_SCRIPT = REPO / "bench" / "peers" / "quix_crossings.py"
REQUIREMENTS = REPO / "bench" / "peers" / "requirements.txt"
CLEARANCE_FIGURES = ("mean_s", "p50_s", "p90_s", "p99_s", "max_s")
PEER_IDLE_TIMEOUT_S = 600  # a safeguard against a stuck peer only


def tool() -> str:
    """'quixstreams <version>' as pinned in the peer's requirements."""
    version = re.search(r"^quixstreams==(\S+)", REQUIREMENTS.read_text(), re.MULTILINE)
    return f"quixstreams {version[1]}"


def keep_raw_records(bootstrap: str) -> None:
    """Raw topics that keep their records for ever. The peer's repartition topics take their
    retention from the raw topics (quixstreams) and carry the events' own timestamps, days in
    the past: under the default 7 days, the broker's retention check (every 5 minutes) deleted
    them before the peer had read them, and the peer then waited until its idle safeguard
    (the first two 2-million-event runs)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    forever = [ConfigEntry("retention.ms", "-1", incremental_operation=AlterConfigOpType.SET)]
    resources = [
        ConfigResource(ConfigResource.Type.TOPIC, spec.name, incremental_configs=forever)
        for spec in RAW_TOPICS.values()
    ]
    for future in admin.incremental_alter_configs(resources).values():
        future.result(timeout=30)


def run_peer(bootstrap: str, events: int, folder: Path, grace_ms: int, skew_tolerance_s: int, timeout_s: float) -> dict:
    """The peer's report (counts, timings, final windows) after it consumed `events` raw records."""
    if not QUIX_PYTHON.exists():
        raise RuntimeError(
            f"no Quix Streams virtualenv at {QUIX_PYTHON.parent.parent}: run `make bench` "
            "(it creates it from bench/peers/requirements.txt), or pass --no-peer"
        )
    keep_raw_records(bootstrap)
    out = folder / "peer.json"
    argv = [
        str(QUIX_PYTHON),
        str(PEER_SCRIPT),
        "--bootstrap",
        bootstrap,
        "--group",
        f"bench-peer-{uuid.uuid4()}",
        "--events",
        str(events),
        "--out",
        str(out),
        "--state-dir",
        str(folder / "peer-state"),
        "--grace-ms",
        str(grace_ms),
        "--skew-tolerance-s",
        str(skew_tolerance_s),
        "--idle-timeout-s",
        str(PEER_IDLE_TIMEOUT_S),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0 or not out.exists():
        raise RuntimeError(f"the Quix Streams peer failed ({done.returncode}):\n{done.stderr[-2000:]}")
    report = json.loads(out.read_text())
    if not report["complete"]:
        raise RuntimeError(
            f"the Quix Streams peer stopped idle after {report['consumed']} of {events} records "
            f"(throughput {report['throughput_events']}, clearance {report['clearance_events']})"
        )
    return report


def job_windows(bootstrap: str, idle_s: float = 5.0) -> dict[str, dict[str, dict]]:
    """The job's last committed value per window key of the throughput and clearance topics,
    read from the start until nothing more comes for `idle_s` (the job is stopped)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-peer-check-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
        }
    )
    windows: dict[str, dict[str, dict]] = {THROUGHPUT.name: {}, CLEARANCE.name: {}}
    try:
        consumer.assign(
            [TopicPartition(spec.name, p, 0) for spec in (THROUGHPUT, CLEARANCE) for p in range(spec.partitions)]
        )
        last = time.monotonic()
        while time.monotonic() - last < idle_s:
            for message in consumer.consume(10_000, timeout=0.5):
                if message.error():
                    continue
                last = time.monotonic()
                latest = windows[message.topic()]
                if message.value() is None:
                    latest.pop(message.key().decode(), None)
                else:
                    latest[message.key().decode()] = json.loads(message.value())
    finally:
        consumer.close()
    return {topic: {window_id(row): row for row in rows.values()} for topic, rows in windows.items()}


def window_id(row: dict) -> str:
    """'<window start>/<port>/<kind>/<direction>[/<channel type>]', as the peer names windows."""
    names = ("window_start", "port_code", "kind", "direction", "channel_type")
    return "/".join(row[name] for name in names if name in row)


def mismatch(peer: dict, ours: dict | None, figures: tuple[str, ...]) -> bool:
    if ours is None or ours["crossings"] != peer["crossings"]:
        return True
    return any(not math.isclose(ours[name], peer[name], rel_tol=1e-9, abs_tol=1e-6) for name in figures)


def compare(report: dict, ours: dict[str, dict[str, dict]]) -> dict:
    """How many of the peer's final windows were checked against the job's, and which differ."""
    pairs = [
        (window, ours[THROUGHPUT.name].get(f"{window['window_start']}/{window['key']}"), ())
        for window in report["throughput"]
    ]
    pairs += [
        (window, ours[CLEARANCE.name].get(f"{window['window_start']}/{window['key']}"), CLEARANCE_FIGURES)
        for window in report["clearance"]
    ]
    different = [(peer, job) for peer, job, figures in pairs if mismatch(peer, job, figures)]
    return {
        "windows_compared": len(pairs),
        "mismatches": len(different),
        "mismatch_examples": [{"peer": peer, "job": job} for peer, job in different[:3]],
    }


def peer_section(report: dict, checked: dict, ours_events_per_s: int) -> dict:
    """The "peer" part of the bench document."""
    return {
        "tool": tool(),
        "events": report["consumed"] + report["malformed"],
        "ours_events_per_s": ours_events_per_s,
        "events_per_s": report["events_per_s"],
        "elapsed_s": report["elapsed_s"],
        "startup_s": round(report["elapsed_with_startup_s"] - report["elapsed_s"], 1),
        "late_window_updates_dropped": report["late"],
        **checked,
        "ours_to_peer_ratio": round(ours_events_per_s / max(report["events_per_s"], 1), 2),
    }
