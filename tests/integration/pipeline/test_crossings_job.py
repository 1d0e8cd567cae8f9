"""The crossings job on the real broker and real Flink: the same input through the local
mini-cluster at parallelism 1, the standalone cluster at parallelism 2 (both bounded) and the
local mini-cluster at parallelism 2 live (unbounded) must give the results recomputed in plain
Python (`crossings_data`); a TaskManager crash must not change them. The broker is the module's
own, so the job reads only this module's input."""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.kafka.settings import KafkaSettings
from connectors.kafka.topics import (
    ALERTS,
    CLEAN,
    CLEARANCE,
    DEAD_LETTERS,
    JOB_OUTPUTS,
    PIPELINE_COUNTS,
    RAW_TOPICS,
    THROUGHPUT,
    ensure_topics,
)
from deploy.services import FlinkCluster, KafkaBroker
from deploy.services.process import stop_group
from pipeline.runtime import JOB_SCRIPT, run_local, start_local, stop_with_savepoint, submit
from schemas.outputs import Alert
from schemas.ports import load_ports
from schemas.privacy import PrivacySettings, Pseudonymiser

from ..connectors.kafka_reading import end_offsets, records_since
from .crossings_data import (
    ALERT_KIND,
    ALERT_PORT,
    CLEAR_IDENTIFIER,
    NOISE_DIRECTION,
    SURGE_DIRECTION,
    Expected,
    RawRecord,
    crossings_records,
    produce,
    recompute,
    record_of,
    simulated_day,
)

OUTPUTS = [spec.name for spec in JOB_OUTPUTS]
THROUGHPUT_FIELDS = {"window_start", "window_end", "port_code", "kind", "direction", "channel_type", "crossings"}
CLEARANCE_FIELDS = {
    "window_start",
    "window_end",
    "port_code",
    "kind",
    "direction",
    "crossings",
    "mean_s",
    "p50_s",
    "p90_s",
    "p99_s",
    "max_s",
}
ALERT_FIELDS = set(Alert.model_fields)  # every field of the message, the optional ones too
DEAD_LETTER_FIELDS = {"reason", "topic", "partition", "offset", "payload", "detected_at"}
JOB_TIMEOUT_S = 600


@dataclass
class Published:
    """What one job run wrote, read back with isolation.level=read_committed."""

    clean: list[dict] = field(default_factory=list)
    dead_letters: list[dict] = field(default_factory=list)
    throughput: dict[tuple, dict] = field(default_factory=dict)
    clearance: dict[tuple, dict] = field(default_factory=dict)
    counts: dict[tuple, dict] = field(default_factory=dict)
    alerts: list[dict] = field(default_factory=list)

    @classmethod
    def read(cls, bootstrap: str, before: dict) -> Published:
        published = cls()
        upserts = {
            THROUGHPUT.name: published.throughput,
            CLEARANCE.name: published.clearance,
            PIPELINE_COUNTS.name: published.counts,
        }
        for record in records_since(bootstrap, before, OUTPUTS):
            value = json.loads(record.value) if record.value is not None else None
            if record.topic in upserts:
                key = tuple(json.loads(record.key).values())
                if value is None:
                    upserts[record.topic].pop(key, None)
                else:
                    upserts[record.topic][key] = value
            elif record.topic == CLEAN.name:
                published.clean.append(value)
            elif record.topic == DEAD_LETTERS.name:
                published.dead_letters.append(value)
            elif record.topic == ALERTS.name:
                published.alerts.append(value)
        return published

    def totals(self) -> Counter:
        totals: Counter = Counter()
        for row in self.counts.values():
            totals.update({k: row[k] for k in ("received", "clean", "dead_letters", "duplicates", "too_late")})
        return totals


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    with KafkaBroker(KafkaSettings(data_dir=tmp_path_factory.mktemp("job-kafka"))) as broker:
        ensure_topics(broker.bootstrap, [*RAW_TOPICS.values(), *JOB_OUTPUTS])
        yield broker


@pytest.fixture(scope="module")
def job_input(broker: KafkaBroker) -> tuple[list[RawRecord], Expected]:
    now = datetime.now(UTC)
    records = crossings_records(now=now)
    produce(broker.bootstrap, records)
    return records, recompute(records, now)


def job_env(tmp_path: Path, name: str) -> dict[str, str]:
    """Settings of one run: its own transactional ids, consumer group and checkpoints."""
    return {
        "PIPELINE_TRANSACTIONAL_ID_PREFIX": f"test-{name}",
        "PIPELINE_CONSUMER_GROUP": f"test-{name}",
        "PIPELINE_CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "PIPELINE_CHECKPOINT_INTERVAL_S": "2",
    }


@pytest.fixture(scope="module")
def local_p1(broker, job_input, tmp_path_factory) -> Published:
    before = end_offsets(broker.bootstrap, OUTPUTS)
    run_local(
        JOB_SCRIPT,
        ["--bootstrap", broker.bootstrap, "--bounded", "--parallelism", "1"],
        JOB_TIMEOUT_S,
        env=job_env(tmp_path_factory.mktemp("local"), "local-p1"),
    )
    return Published.read(broker.bootstrap, before)


@pytest.fixture(scope="module")
def cluster_p2(broker, job_input, flink_cluster: FlinkCluster, tmp_path_factory) -> Published:
    before = end_offsets(broker.bootstrap, OUTPUTS)
    submit(
        JOB_SCRIPT,
        ["--bootstrap", broker.bootstrap, "--bounded"],
        flink_cluster.rest_url,
        2,
        JOB_TIMEOUT_S,
        flink=flink_cluster.settings,
        env=job_env(tmp_path_factory.mktemp("cluster"), "cluster-p2"),
    )
    return Published.read(broker.bootstrap, before)


@pytest.fixture(scope="module")
def local_p2_live(broker, job_input, tmp_path_factory) -> Published:
    """Unbounded, as in production: the alerts read the published clearance windows back from
    their topic. Stopped once every record is counted and the surge's episode has resolved."""
    records, _ = job_input
    before = end_offsets(broker.bootstrap, OUTPUTS)
    folder = tmp_path_factory.mktemp("live")
    job = start_local(
        JOB_SCRIPT,
        ["--bootstrap", broker.bootstrap, "--parallelism", "2"],
        folder / "job.log",
        env=job_env(folder, "local-p2-live"),
    )

    def done() -> bool:
        published = Published.read(broker.bootstrap, before)
        return published.totals()["received"] == len(records) and any(
            alert["state"] == "resolved" for alert in published.alerts
        )

    try:
        wait_for(done, "the live job to count every record and resolve the surge", timeout_s=JOB_TIMEOUT_S)
    finally:
        stop_group(job.pid)
    return Published.read(broker.bootstrap, before)


@pytest.fixture(params=["local_p1", "cluster_p2", "local_p2_live"])
def published(request) -> Published:
    return request.getfixturevalue(request.param)


def assert_windows_equal(published: Published, expected: Expected) -> None:
    throughput = {key: row["crossings"] for key, row in published.throughput.items()}
    assert throughput == expected.throughput
    assert published.clearance.keys() == expected.clearance.keys()
    for key, row in published.clearance.items():
        got = (row["crossings"], row["mean_s"], row["p50_s"], row["p90_s"], row["p99_s"], row["max_s"])
        want = expected.clearance[key]
        assert got[0] == want[0], key
        assert all(math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-6) for g, w in zip(got[1:], want[1:])), (key, got, want)


def test_window_results_equal_a_recomputation(published, job_input):
    records, expected = job_input
    assert expected.too_late > 0 and expected.duplicates > 0  # the input exercises both
    assert_windows_equal(published, expected)


def test_every_raw_record_is_accounted_for(published, job_input):
    records, expected = job_input
    totals = published.totals()
    assert totals["received"] == len(records)
    assert totals["received"] == totals["clean"] + totals["dead_letters"] + totals["duplicates"]
    assert totals["clean"] == len(expected.clean_ids)
    assert totals["duplicates"] == expected.duplicates
    assert totals["too_late"] == expected.too_late
    assert totals["dead_letters"] == sum(expected.dead_letter_classes.values())
    clean_ids = [event["event_id"] for event in published.clean]
    assert len(clean_ids) == len(set(clean_ids)) and set(clean_ids) == expected.clean_ids


def test_each_class_of_invalid_record_is_a_dead_letter_with_its_reason(published, job_input):
    records, expected = job_input
    assert Counter(letter["reason"].split(":")[0] for letter in published.dead_letters) == expected.dead_letter_classes
    sent_fields = {frozenset(fields) for record in records if isinstance(fields := json_object(record.value), dict)}
    for letter in published.dead_letters:
        assert set(letter) == DEAD_LETTER_FIELDS
        assert letter["topic"] in {spec.name for spec in RAW_TOPICS.values()} and letter["offset"] >= 0
        if letter["reason"].startswith("malformed-json"):
            assert letter["payload"] is None  # no JSON object: nothing of it is kept
        else:
            payload = json.loads(letter["payload"])
            assert frozenset(payload) in sent_fields
            assert all(re.fullmatch("[0-9a-f]{32}", payload[name]) for name in payload if name.endswith("_ref"))
        assert CLEAR_IDENTIFIER not in json.dumps(letter)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", letter["detected_at"])
        assert ": " in letter["reason"]  # the class, then what is wrong


def json_object(value: bytes) -> object:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return None


def test_no_output_carries_a_clear_identifier(published):
    """The input has a passport number in a ref and in a field of its own."""
    assert CLEAR_IDENTIFIER not in json.dumps([published.clean, published.dead_letters, published.alerts])


def test_dead_letters_carry_the_refs_the_producers_write(published):
    """The TaskManagers had PRIVACY_HMAC_KEY (the mini-cluster from this process's `.env`, the
    standalone cluster's from its start): the clear passport number, in subject_ref and in a
    field of its own, is in the dead letters as the ref schemas/privacy.py gives it."""
    ref = Pseudonymiser.from_settings(PrivacySettings()).ref("document", CLEAR_IDENTIFIER)
    payloads = [json.loads(letter["payload"]) for letter in published.dead_letters if letter["payload"]]
    assert ref in {payload.get("subject_ref") for payload in payloads}
    assert ref in {payload.get("passport_no") for payload in payloads}


def test_the_hmac_key_is_in_no_log_file_job_config_or_plan(cluster_p2, flink_cluster: FlinkCluster):
    key = PrivacySettings().hmac_key.get_secret_value()
    assert key
    for path in flink_cluster.data_dir.rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
    answers = [flink_cluster.request("/jobmanager/config"), flink_cluster.request("/taskmanagers")]
    for job in flink_cluster.request("/jobs/overview")["jobs"]:
        answers += [flink_cluster.request(f"/jobs/{job['jid']}{part}") for part in ("", "/config", "/plan")]
    for taskmanager in answers[1]["taskmanagers"]:
        answers.append(flink_cluster.request(f"/taskmanagers/{taskmanager['id']}"))
    assert key not in json.dumps(answers)


def test_a_surge_opens_and_closes_one_episode_and_noise_opens_none(published):
    threshold = load_ports().get(ALERT_PORT).clearance_threshold_s[ALERT_KIND]
    surge = [
        a
        for a in published.alerts
        if (a["port_code"], a["kind"], a["direction"]) == (ALERT_PORT, ALERT_KIND, SURGE_DIRECTION)
    ]
    assert [a["state"] for a in surge] == ["raised", "resolved"]
    raised, resolved = surge
    assert raised["episode_id"] == resolved["episode_id"]
    assert raised["severity"] == resolved["severity"] == "critical"  # the surge is 3x the threshold
    assert raised["threshold_s"] == threshold and raised["ended_at"] is None
    assert raised["started_at"] < resolved["ended_at"]
    assert resolved["peak_p90_s"] > 2 * threshold
    # a measured spike: no forecast's diversion advice
    for alert in surge:
        assert alert["episode_type"] == "clearance"
        assert (alert["advice_port_code"], alert["advice_forecast_s"], alert["advice_difference_min"]) == (None,) * 3
    noise = [
        a
        for a in published.alerts
        if (a["port_code"], a["kind"], a["direction"]) == (ALERT_PORT, ALERT_KIND, NOISE_DIRECTION)
    ]
    assert noise == []
    for alert in published.alerts:
        assert set(alert) == ALERT_FIELDS


def test_message_formats(published):
    assert published.throughput and all(set(row) == THROUGHPUT_FIELDS for row in published.throughput.values())
    assert published.clearance and all(set(row) == CLEARANCE_FIELDS for row in published.clearance.values())
    window = next(iter(published.clearance.values()))
    start = datetime.fromisoformat(window["window_start"].replace("Z", "+00:00"))
    assert datetime.fromisoformat(window["window_end"].replace("Z", "+00:00")) - start == timedelta(minutes=5)
    assert all({"event_id", "released_at", "port_code"} <= set(event) for event in published.clean)


def test_a_taskmanager_crash_and_a_savepoint_restart_lose_and_double_nothing(
    broker, job_input, flink_cluster, tmp_path
):
    """On the RocksDB backend with incremental checkpoints (the other tests run on hashmap):
    the crash restores from an incremental checkpoint, the restart from a savepoint."""
    records, _ = job_input
    more = [record_of(event) for event in simulated_day(0.005, seed=11, day=RECOVERY_DAY)]
    after_restart = [record_of(event) for event in simulated_day(0.002, seed=12, day=RESTART_DAY)]
    before = end_offsets(broker.bootstrap, OUTPUTS)
    env = {
        **job_env(tmp_path, "recovery"),
        "PIPELINE_STATE_BACKEND": "rocksdb",
        "PIPELINE_INCREMENTAL_CHECKPOINTS": "true",
    }
    output = submit(
        JOB_SCRIPT,
        ["--bootstrap", broker.bootstrap],
        flink_cluster.rest_url,
        2,
        JOB_TIMEOUT_S,
        flink=flink_cluster.settings,
        detached=True,
        env=env,
    )
    job_id = re.search(r"JobID ([0-9a-f]{32})", output).group(1)
    try:
        wait_for(lambda: checkpoints(flink_cluster, job_id)["counts"]["completed"] > 0, "a first checkpoint")
        producing = threading.Thread(target=produce, args=(broker.bootstrap, more, 400))
        producing.start()
        time.sleep(3)
        flink_cluster.kill_taskmanager(0)  # kill -9, while records flow
        flink_cluster.start_taskmanager()
        producing.join()
        total = len(records) + len(more)
        wait_for(
            lambda: Published.read(broker.bootstrap, before).totals()["received"] >= total,
            "the job to catch up after the crash",
            timeout_s=300,
        )
        assert checkpoints(flink_cluster, job_id)["latest"]["restored"] is not None
        completed = [c for c in checkpoints(flink_cluster, job_id)["history"] if c["status"] == "COMPLETED"]
        assert any(c["checkpointed_size"] < c["state_size"] for c in completed), completed  # incremental

        # an operator's restart: stop with a savepoint, new input meanwhile, resume from it
        savepoint = stop_with_savepoint(flink_cluster.rest_url, job_id, tmp_path / "savepoints", JOB_TIMEOUT_S)
        assert flink_cluster.request(f"/jobs/{job_id}")["state"] == "FINISHED"
        produce(broker.bootstrap, after_restart)
        output = submit(
            JOB_SCRIPT,
            ["--bootstrap", broker.bootstrap],
            flink_cluster.rest_url,
            2,
            JOB_TIMEOUT_S,
            flink=flink_cluster.settings,
            detached=True,
            env=env,
            from_savepoint=savepoint,
        )
        job_id = re.search(r"JobID ([0-9a-f]{32})", output).group(1)
        total += len(after_restart)
        wait_for(
            lambda: Published.read(broker.bootstrap, before).totals()["received"] >= total,
            "the resumed job to read what came while it was stopped",
            timeout_s=300,
        )
        assert checkpoints(flink_cluster, job_id)["latest"]["restored"]["is_savepoint"]
    finally:
        if flink_cluster.request(f"/jobs/{job_id}")["state"] not in TERMINAL:
            flink_cluster.request(f"/jobs/{job_id}?mode=cancel", method="PATCH")
        wait_for(lambda: flink_cluster.request(f"/jobs/{job_id}")["state"] in TERMINAL, "the job to stop")
    published = Published.read(broker.bootstrap, before)
    expected = recompute(records + more + after_restart, datetime.now(UTC))
    assert published.totals()["received"] == total
    assert published.totals()["duplicates"] == expected.duplicates
    assert_windows_equal(published, expected)


RECOVERY_DAY = datetime(2024, 5, 3).date()
RESTART_DAY = datetime(2024, 5, 4).date()
TERMINAL = {"CANCELED", "FAILED", "FINISHED"}


def checkpoints(cluster: FlinkCluster, job_id: str) -> dict:
    return cluster.request(f"/jobs/{job_id}/checkpoints")


def wait_for(condition, what: str, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
