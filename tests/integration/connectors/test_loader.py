"""The loader on the real broker and real chdb: each output topic lands in its table with the
right values; failing inserts are retried without loss; a kill -9 between an insert and its
offset commit loses and doubles nothing (read with FINAL / uniqExact); SIGTERM stops it cleanly;
a second loader joining the group takes a share of the partitions and nothing is lost.

In-process tests use topics of their own (`crossings.clean` -> `<test>.crossings.clean`, ...)
so the loader's stats are exact; the rows they check carry ids of their own, because the
session warehouse is shared with other tests. The crash test runs the loader as a subprocess
on a chdb folder of its own (one chdb session per process), the chaos suite's faulty loader
first, which SIGKILLs itself right after its 2nd insert, before that commit, then `crossings
load`."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import orjson
import pytest
from confluent_kafka import Producer

from bench.chaos.faults import FaultyWarehouse
from connectors.clickhouse.loader import TARGETS, Loader, Target
from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.settings import ClickHouseSettings, LoaderSettings
from connectors.kafka.topics import (
    ALERTS,
    CLEAN,
    CLEARANCE,
    DEAD_LETTERS,
    PIPELINE_COUNTS,
    THROUGHPUT,
    TopicSpec,
    ensure_topics,
)
from tests.unit.connectors.test_alert_messages import WARNING_RAISED

CROSSINGS_BIN = Path(sys.executable).parent / "crossings"
REPO = Path(__file__).resolve().parents[3]
FAST = dict(batch_rows=500, batch_wait_ms=200, backoff_initial_ms=50, backoff_max_ms=200)


@pytest.fixture(scope="module")
def migrated(warehouse):
    migrate(warehouse, ClickHouseSettings())
    return warehouse


def own_targets(bootstrap: str, prefix: str) -> dict[str, Target]:
    targets = {
        f"{prefix}.{topic}": dataclasses.replace(target, topic=f"{prefix}.{topic}") for topic, target in TARGETS.items()
    }
    ensure_topics(bootstrap, [TopicSpec(topic, partitions=2) for topic in targets])
    return targets


def produce(bootstrap: str, records: list[tuple[str, bytes | None, bytes | None]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for topic, key, value in records:
        producer.produce(topic, value, key)
    assert producer.flush(30) == 0


def crossing(kind: str, lane_id: str, index: int = 0) -> dict:
    event = {
        "event_id": str(uuid.uuid4()),
        "schema_version": 1,
        "kind": kind,
        "port_code": "HUANGGANG",
        "direction": "exit",
        "lane_id": lane_id,
        "channel_type": "e-channel",
        "queued_at": f"2024-05-01T08:00:{index % 60:02d}.5Z",
        "inspection_started_at": f"2024-05-01T08:01:{index % 60:02d}.123456Z",
        "released_at": f"2024-05-01T08:02:{index % 60:02d}.25Z",
        "inspection_mode": "two-site",
        "subject_ref": uuid.uuid4().hex,
    }
    extra = {
        "traveller": {"category": "hk-macao-resident", "document_type": "home-return-permit"},
        "driver": {"vehicle_ref": uuid.uuid4().hex, "health_check": "passed", "channel_type": "vehicle-lane"},
        "truck": {
            "plate_ref": uuid.uuid4().hex,
            "cargo_type": "general",
            "declared_weight_kg": 16870.5,
            "customs_decision": "released",
            "channel_type": "freight-lane",
        },
    }[kind]
    return {**event, **extra}


def test_each_topic_lands_in_its_table_with_its_values(kafka_broker, migrated):
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    targets = own_targets(bootstrap, f"rows-{tag}")
    topic = {target.table: name for name, target in targets.items()}
    port = f"P{tag}"
    events = [crossing(kind, f"lane-{tag}") for kind in ("traveller", "driver", "truck")]
    window_key = orjson.dumps({"window_start": "2024-05-01T08:00:00Z", "port_code": port})
    episode, warning = str(uuid.uuid4()), str(uuid.uuid4())  # a clearance episode as before issue 21, a forecast one
    records = [
        *((topic["crossings"], b"HUANGGANG", orjson.dumps(event)) for event in events),
        (topic["crossings"], b"HUANGGANG", b"{not json"),
        (
            topic["throughput_windows"],
            window_key,
            orjson.dumps(
                {
                    "window_start": "2024-05-01T08:00:00Z",
                    "window_end": "2024-05-01T08:01:00Z",
                    "port_code": port,
                    "kind": "traveller",
                    "direction": "entry",
                    "channel_type": "e-channel",
                    "crossings": 5,
                }
            ),
        ),
        (
            topic["throughput_windows"],
            window_key,
            orjson.dumps(
                {
                    "window_start": "2024-05-01T08:00:00Z",
                    "window_end": "2024-05-01T08:01:00Z",
                    "port_code": port,
                    "kind": "traveller",
                    "direction": "entry",
                    "channel_type": "e-channel",
                    "crossings": 7,
                }
            ),
        ),
        (topic["throughput_windows"], b'{"other": 1}', None),
        (
            topic["clearance_windows"],
            window_key,
            orjson.dumps(
                {
                    "window_start": "2024-05-01T08:00:00Z",
                    "window_end": "2024-05-01T08:05:00Z",
                    "port_code": port,
                    "kind": "traveller",
                    "direction": "entry",
                    "crossings": 3,
                    "mean_s": 12.5,
                    "p50_s": 10.0,
                    "p90_s": 20.0,
                    "p99_s": 24.0,
                    "max_s": 25.0,
                }
            ),
        ),
        (
            topic["pipeline_counts"],
            window_key,
            orjson.dumps(
                {
                    "received_minute": "2024-05-01T08:00:00Z",
                    "topic": f"raw-{tag}",
                    "received": 10,
                    "clean": 7,
                    "dead_letters": 2,
                    "duplicates": 1,
                    "too_late": 1,
                }
            ),
        ),
        (
            topic["alerts"],
            episode.encode(),
            orjson.dumps(
                {
                    "episode_id": episode,
                    "state": "raised",
                    "severity": "critical",
                    "port_code": port,
                    "kind": "traveller",
                    "direction": "entry",
                    "started_at": "2024-05-01T08:00:00Z",
                    "ended_at": None,
                    "peak_p90_s": 950.0,
                    "threshold_s": 300,
                }
            ),
        ),
        (
            topic["alerts"],
            episode.encode(),
            orjson.dumps(
                {
                    "episode_id": episode,
                    "state": "resolved",
                    "severity": "critical",
                    "port_code": port,
                    "kind": "traveller",
                    "direction": "entry",
                    "started_at": "2024-05-01T08:00:00Z",
                    "ended_at": "2024-05-01T08:20:00Z",
                    "peak_p90_s": 990.0,
                    "threshold_s": 300,
                }
            ),
        ),
        (topic["alerts"], warning.encode(), orjson.dumps({**WARNING_RAISED, "episode_id": warning, "port_code": port})),
        (
            topic["dead_letters"],
            None,
            orjson.dumps(
                {
                    "reason": "bad-json: truncated",
                    "topic": f"raw-{tag}",
                    "partition": 1,
                    "offset": 42,
                    "payload": '{"event_id":',
                    "detected_at": "2024-05-01T08:00:03Z",
                }
            ),
        ),
    ]
    produce(bootstrap, records)

    stats = Loader(bootstrap, migrated, LoaderSettings(group_id=f"rows-{tag}", **FAST), targets).run(once=True)

    assert (stats.rows, stats.tombstones, stats.rejected, stats.total_lag) == (len(records) - 2, 1, 1, 0)
    assert stats.rows_per_table == {
        "crossings": 3,
        "throughput_windows": 2,
        "clearance_windows": 1,
        "pipeline_counts": 1,
        "alerts": 3,
        "dead_letters": 1,
    }
    loaded = {
        row["event_id"]: row
        for row in migrated.query(
            "SELECT *, clearance_s, toString(queued_at) AS queued, toString(inspection_started_at) AS started "
            "FROM crossings FINAL WHERE lane_id = {lane:String}",
            {"lane": f"lane-{tag}"},
        ).dicts()
    }
    assert loaded.keys() == {event["event_id"] for event in events}
    for event in events:
        row = loaded[event["event_id"]]
        assert row["queued"] == "2024-05-01 08:00:00.500" and row["started"] == "2024-05-01 08:01:00.123"
        assert row["clearance_s"] == 119.75 and row["kafka_offset"] >= 0
        for name in (
            "kind",
            "channel_type",
            "subject_ref",
            "category",
            "document_type",
            "vehicle_ref",
            "health_check",
            "plate_ref",
            "cargo_type",
            "declared_weight_kg",
            "customs_decision",
        ):
            assert row[name] == event.get(name), name
    throughput = migrated.query(
        "SELECT crossings, version FROM throughput_windows FINAL WHERE port_code = {p:String}", {"p": port}
    ).rows
    assert len(throughput) == 1 and throughput[0][0] == 7  # the later upsert (higher offset) wins
    assert migrated.query(
        "SELECT crossings, mean_s, p99_s, toString(window_end) FROM clearance_windows FINAL "
        "WHERE port_code = {p:String}",
        {"p": port},
    ).rows == [(3, 12.5, 24.0, "2024-05-01 08:05:00")]
    assert migrated.query(
        "SELECT received, clean, dead_letters, duplicates, too_late FROM pipeline_counts FINAL "
        "WHERE topic = {t:String}",
        {"t": f"raw-{tag}"},
    ).rows == [(10, 7, 2, 1, 1)]
    alerts = migrated.query(
        "SELECT state, toString(ended_at), peak_p90_s, threshold_s FROM alerts FINAL "
        "WHERE episode_id = {e:UUID} ORDER BY state",
        {"e": episode},
    ).rows
    assert alerts == [("raised", None, 950.0, 300), ("resolved", "2024-05-01 08:20:00", 990.0, 300)]
    types = migrated.query(
        "SELECT episode_id, severity, episode_type, advice_port_code, advice_forecast_s, advice_difference_min "
        "FROM alerts FINAL WHERE port_code = {p:String} ORDER BY started_at, state",
        {"p": port},
    ).rows
    assert [(str(row[0]), *row[1:]) for row in types] == [
        (warning, "early-warning", "forecast", "FUTIAN", 720.0, 29.0),
        (episode, "critical", "clearance", None, None, None),  # messages without the fields: clearance
        (episode, "critical", "clearance", None, None, None),
    ]
    assert migrated.query(
        "SELECT reason, partition, offset, payload, toString(detected_at) FROM dead_letters FINAL "
        "WHERE topic = {t:String}",
        {"t": f"raw-{tag}"},
    ).rows == [("bad-json: truncated", 1, 42, '{"event_id":', "2024-05-01 08:00:03")]


def test_failing_inserts_are_retried_until_they_succeed_without_loss(kafka_broker, migrated):
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    targets = own_targets(bootstrap, f"retry-{tag}")
    clean_topic = next(name for name, target in targets.items() if target.table == "crossings")
    events = [crossing("traveller", f"retry-{tag}", i) for i in range(1200)]
    produce(bootstrap, [(clean_topic, b"HUANGGANG", orjson.dumps(event)) for event in events])
    failing = FaultyWarehouse(migrated).fail_next(4)

    stats = Loader(bootstrap, failing, LoaderSettings(group_id=f"retry-{tag}", **FAST), targets).run(once=True)

    assert failing.failed == stats.failed_inserts == 4
    assert stats.rows == len(events) and stats.total_lag == 0
    count, unique = migrated.query(
        "SELECT count(), uniqExact(event_id) FROM crossings WHERE lane_id = {l:String}", {"l": f"retry-{tag}"}
    ).rows[0]
    assert count == unique == len(events)  # retried, not lost, and not inserted twice


def test_a_poison_row_ends_in_load_rejects_and_the_rest_in_its_table(kafka_broker, migrated, caplog):
    """chdb refuses a number where the table takes a UUID, and a date that does not exist: after
    its tries the batch is split, the good rows are inserted, each poison row is recorded with
    its coordinates, and the offsets are committed past them (a second run of the group finds
    nothing to load)."""
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    targets = own_targets(bootstrap, f"poison-{tag}")
    clean_topic = next(name for name, target in targets.items() if target.table == "crossings")
    events = [crossing("truck", f"poison-{tag}", i) for i in range(60)]
    poison = [
        {**crossing("truck", f"poison-{tag}", 60), "event_id": 40404},
        {**crossing("truck", f"poison-{tag}", 61), "released_at": "2024-02-30T08:02:00Z"},
    ]
    produce(
        bootstrap,
        [
            (clean_topic, b"HUANGGANG", orjson.dumps(event))  # one key: one partition
            for event in (*events[:25], poison[0], *events[25:50], poison[1], *events[50:])
        ],
    )
    settings = LoaderSettings(group_id=f"poison-{tag}", refused_tries=2, **FAST)

    with caplog.at_level(logging.ERROR, "connectors.clickhouse.loader"):
        stats = Loader(bootstrap, migrated, settings, targets).run(once=True)

    assert (stats.rows, stats.refused, stats.rejected, stats.total_lag) == (len(events), 2, 0, 0)
    ids = migrated.query(
        "SELECT toString(event_id) FROM crossings WHERE lane_id = {l:String}", {"l": f"poison-{tag}"}
    ).rows
    assert sorted(row[0] for row in ids) == sorted(event["event_id"] for event in events)  # each once
    number, date = migrated.query(
        "SELECT table_name, partition, offset, error, row_json FROM load_rejects FINAL "
        "WHERE topic = {t:String} ORDER BY offset",
        {"t": clean_topic},
    ).dicts()
    assert (number["table_name"], number["offset"], date["table_name"], date["offset"]) == (
        "crossings",
        25,
        "crossings",
        51,
    )
    assert "UUID" in number["error"] and '"event_id": 40404' in number["row_json"], number
    assert "DateTime" in date["error"] and "2024-02-30 08:02:00" in date["row_json"], date
    assert f"crossings (topic {clean_topic} partition {number['partition']} offset 25), recorded" in caplog.text
    again = Loader(bootstrap, migrated, settings, targets).run(once=True)
    assert (again.rows, again.refused) == (0, 0)  # committed past the poison row


STOPPED_BY_SIGTERM = 128 + signal.SIGTERM  # after a clean stop: inserted and committed what it read
LOAD = [str(CROSSINGS_BIN), "load", "--once", "--json", "--batch-rows", "300", "--max-wait-ms", "200"]


def run_loader(env: dict[str, str], timeout_s: float = 60, argv: list[str] = LOAD) -> subprocess.CompletedProcess:
    process = subprocess.Popen(
        argv,
        env=env,
        cwd=env["CLICKHOUSE_DATA_PATH"] + "-cwd",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def query_lane(env: dict[str, str], lane: str, *queries: str) -> list[list]:
    """The rows of each query (`{l:String}` = `lane`) on the chdb folder of `env`, in a
    process of its own (chdb allows one per folder)."""
    script = (
        "import json, sys; from connectors.clickhouse import open_warehouse\n"
        "from connectors.clickhouse.settings import ClickHouseSettings\n"
        "with open_warehouse(ClickHouseSettings()) as wh:\n"
        "    print(json.dumps([wh.query(q, {'l': sys.argv[1]}).rows for q in sys.argv[2:]], default=str))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, lane, *queries],
        env=env,
        cwd=env["CLICKHOUSE_DATA_PATH"] + "-cwd",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


FINAL_ROWS = "SELECT count() FROM crossings FINAL WHERE lane_id = {l:String}"


def read_counts(env: dict[str, str], lane: str) -> dict:
    (counts,), (final,) = query_lane(
        env, lane, "SELECT count(), uniqExact(event_id) FROM crossings WHERE lane_id = {l:String}", FINAL_ROWS
    )
    return {"rows": counts[0], "unique": counts[1], "final": final[0]}


def test_a_kill_between_insert_and_commit_loses_and_doubles_nothing(kafka_broker, tmp_path):
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    ensure_topics(bootstrap, [CLEAN, DEAD_LETTERS, THROUGHPUT, CLEARANCE, PIPELINE_COUNTS, ALERTS])
    events = [crossing("truck", f"crash-{tag}", i) for i in range(1000)]
    produce(bootstrap, [(CLEAN.name, b"HUANGGANG", orjson.dumps(event)) for event in events])
    (tmp_path / "chdb-cwd").mkdir()  # the subprocesses run there: no .env, relative paths in tmp
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CLICKHOUSE_DATA_PATH": str(tmp_path / "chdb"),
        "LOADER_GROUP_ID": f"crash-{tag}",
        "PYTHONPATH": str(REPO),
    }

    crashed = run_loader(
        {**env, "LOADER_BATCH_ROWS": "300", "LOADER_BATCH_WAIT_MS": "200"},
        argv=[sys.executable, "-m", "bench.chaos.faulty_loader", "--crash-after-insert", "2", "--once"],
    )
    assert crashed.returncode == -9, (crashed.returncode, crashed.stdout, crashed.stderr[-3000:])
    after_crash = read_counts(env, f"crash-{tag}")
    assert 0 < after_crash["unique"] < len(events), after_crash  # the 2nd batch is in, not committed

    finished = run_loader(env)
    assert finished.returncode == 0, (finished.returncode, finished.stderr[-3000:])
    stats = json.loads(finished.stdout)
    assert stats["total_lag"] == 0 and stats["rows_per_table"]["crossings"] >= len(events) - after_crash["unique"]
    counts = read_counts(env, f"crash-{tag}")
    assert counts["unique"] == counts["final"] == len(events), (counts, stats)


def test_sigterm_stops_the_loader_cleanly_and_a_restart_loses_nothing(kafka_broker, tmp_path):
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    events = [crossing("driver", f"term-{tag}", i) for i in range(500)]
    ensure_topics(bootstrap, [CLEAN, DEAD_LETTERS, THROUGHPUT, CLEARANCE, PIPELINE_COUNTS, ALERTS])
    produce(bootstrap, [(CLEAN.name, b"HUANGGANG", orjson.dumps(event)) for event in events])
    (tmp_path / "chdb-cwd").mkdir()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CLICKHOUSE_DATA_PATH": str(tmp_path / "chdb"),
        "LOADER_GROUP_ID": f"term-{tag}",
        "PYTHONPATH": str(REPO),
    }
    process = subprocess.Popen(
        [str(CROSSINGS_BIN), "load", "--json", "--max-wait-ms", "200", "--stats-interval", "0.3"],
        env=env,
        cwd=tmp_path / "chdb-cwd",
        stdout=(tmp_path / "stats.json").open("w"),
        stderr=subprocess.PIPE,
        text=True,
    )
    caught_up = threading.Event()
    log_lines: list[str] = []

    def watch() -> None:  # the stats line says when it has loaded rows and caught up
        for line in process.stderr:
            log_lines.append(line)
            if re.search(r"loaded [1-9]\d* rows .*; lag 0;", line):
                caught_up.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        assert caught_up.wait(40), "".join(log_lines[-20:])
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    watcher.join(5)
    err = "".join(log_lines)
    assert process.returncode == STOPPED_BY_SIGTERM and "stopped by SIGTERM" in err, err[-2000:]
    assert json.loads((tmp_path / "stats.json").read_text())["failed_inserts"] == 0
    restarted = run_loader(env)
    assert restarted.returncode == 0, (restarted.returncode, restarted.stderr[-3000:])
    counts = read_counts(env, f"term-{tag}")
    assert counts["unique"] == counts["final"] == len(events), counts


class LoaderProcess:
    """`crossings load` as a subprocess, its log lines collected as they come."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [
                str(CROSSINGS_BIN),
                "load",
                "--json",
                "--batch-rows",
                "300",
                "--max-wait-ms",
                "200",
                "--stats-interval",
                "0.3",
            ],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.watcher = threading.Thread(target=lambda: self.lines.extend(self.process.stderr), daemon=True)
        self.watcher.start()

    def wait_for(self, pattern: str, since: int = 0, timeout_s: float = 60) -> int:
        """The index of the first log line from `since` on that matches `pattern`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = next((i for i, line in enumerate(self.lines[since:], since) if re.search(pattern, line)), None)
            if found is not None:
                return found
            assert self.process.poll() is None, "".join(self.lines[-20:])
            time.sleep(0.1)
        raise AssertionError(f"no log line matching {pattern!r} within {timeout_s} s:\n" + "".join(self.lines[-20:]))

    def stop(self) -> int:
        try:
            self.process.send_signal(signal.SIGTERM)
            return self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.watcher.join(5)


def event_ids(env: dict[str, str], lane: str) -> tuple[set[str], int]:
    """The event ids in the `crossings` table of the chdb folder of `env`, and its FINAL row count."""
    ids, (final,) = query_lane(
        env, lane, "SELECT toString(event_id) FROM crossings WHERE lane_id = {l:String}", FINAL_ROWS
    )
    return {row[0] for row in ids}, final[0]


def test_a_second_loader_joining_takes_partitions_and_nothing_is_lost(kafka_broker, tmp_path):
    """A rebalance while loading: the first loader's partitions are revoked, it rewinds to its
    commits and loads on; the second takes a share. Each has its own chdb folder, so every
    event must be in one of them (or both, if it was inserted but not committed when revoked)."""
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    lane = f"rebalance-{tag}"
    ensure_topics(bootstrap, [CLEAN, DEAD_LETTERS, THROUGHPUT, CLEARANCE, PIPELINE_COUNTS, ALERTS])

    def produce_batch(first: int) -> set[str]:
        events = [crossing("traveller", lane, i) for i in range(first, first + 600)]
        produce(
            bootstrap, [(CLEAN.name, f"port-{i % 8}".encode(), orjson.dumps(event)) for i, event in enumerate(events)]
        )  # spread over the partitions
        return {event["event_id"] for event in events}

    envs = []
    for name in ("a", "b"):
        (tmp_path / f"chdb-{name}-cwd").mkdir()
        envs.append(
            {
                **os.environ,
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "LOADER_GROUP_ID": lane,
                "CLICKHOUSE_DATA_PATH": str(tmp_path / f"chdb-{name}"),
                "PYTHONPATH": str(REPO),
            }
        )
    first, second = None, None
    try:
        before = produce_batch(0)
        first = LoaderProcess(envs[0], tmp_path / "chdb-a-cwd")
        first.wait_for(r"loaded [1-9]\d* rows .*; lag 0;")
        mark = len(first.lines)
        second = LoaderProcess(envs[1], tmp_path / "chdb-b-cwd")
        first.wait_for(r"partitions were revoked", since=mark)
        second.wait_for(r"; lag 0;")
        mark_first, mark_second = len(first.lines), len(second.lines)
        after = produce_batch(600)
        first.wait_for(r"; lag 0;", since=mark_first)
        second.wait_for(r"loaded [1-9]\d* rows .*; lag 0;", since=mark_second)
    finally:
        codes = [loader.stop() if loader else None for loader in (first, second)]
    assert codes == [STOPPED_BY_SIGTERM] * 2, "".join(first.lines[-20:] + second.lines[-20:])

    (ids_a, final_a), (ids_b, final_b) = (event_ids(env, lane) for env in envs)
    assert ids_a | ids_b == before | after
    assert len(ids_a) == final_a and len(ids_b) == final_b  # no row twice within one table
    assert ids_a & after and ids_b & after  # the first loads on after its revocation, the second has a share
