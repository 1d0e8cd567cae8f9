"""The pipeline's own metrics in a real Prometheus: the crossings job on the standalone cluster
and the loader run on a few hundred events, then Prometheus's HTTP API is asked for Flink's
records-in series of the job's sources and the loader's records, lag and freshness, and their
values are checked against what was produced. And the job in the local mini-cluster serving
the same records-in on FLINK_LOCAL_METRICS_PORT."""

from __future__ import annotations

import re
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.clickhouse.loader import TARGETS, Loader
from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.settings import ClickHouseSettings, LoaderSettings
from connectors.kafka.settings import KafkaSettings
from connectors.kafka.topics import CLEAN, JOB_OUTPUTS, RAW_TOPICS, ensure_topics
from deploy.services import FlinkCluster, KafkaBroker
from deploy.services.process import free_port, stop_group
from deploy.services.prometheus import Prometheus
from pipeline.runtime import JOB_SCRIPT, start_local, stop_with_savepoint, submit

from ..connectors.kafka_reading import records_since
from .crossings_data import produce, record_of, simulated_day
from .test_crossings_job import TERMINAL, job_env

EVENTS = 300
OUTPUTS = [spec.name for spec in JOB_OUTPUTS]
# the records each source operator took in, per subtask, in this Flink version's naming
FLINK_RECORDS_IN = "flink_taskmanager_job_task_operator_numRecordsIn"
# the source of the raw topics (a live job also reads its published clearance windows back)
RAW_SOURCE = "raw_crossings"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A broker of its own, its raw topics holding EVENTS crossings."""
    with KafkaBroker(KafkaSettings(data_dir=tmp_path_factory.mktemp("metrics-kafka"))) as broker:
        ensure_topics(broker.bootstrap, [*RAW_TOPICS.values(), *JOB_OUTPUTS])
        events = simulated_day(0.002, 11)[:EVENTS]
        assert len(events) == EVENTS
        produce(broker.bootstrap, [record_of(event) for event in events])
        yield broker


def wait_for(condition, what: Callable[[], str], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:.0f} s waiting for {what()}"
        time.sleep(0.5)


def values(prometheus: Prometheus, expression: str, label: str) -> dict[str, float]:
    return {series["metric"].get(label, ""): float(series["value"][1]) for series in prometheus.query(expression)}


def source_records_in(port: int) -> float | None:
    """The sum of the raw source operators' numRecordsIn served on `port`; None while not served."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return None
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == FLINK_RECORDS_IN and RAW_SOURCE in sample.labels.get("operator_name", "")
    )


# first in the module: before the session's standalone cluster starts (the machine is small)
def test_a_job_in_the_mini_cluster_serves_its_metrics_on_the_local_port(broker, tmp_path):
    port = free_port()
    env = {**job_env(tmp_path, "metrics-local"), "FLINK_LOCAL_METRICS_PORT": str(port)}
    job = start_local(JOB_SCRIPT, ["--bootstrap", broker.bootstrap, "--parallelism", "1"], tmp_path / "job.log", env)
    seen: list[float | None] = [None]

    def counted() -> bool:
        seen[0] = source_records_in(port)
        return seen[0] == EVENTS

    try:
        wait_for(counted, lambda: f"the sources' {FLINK_RECORDS_IN} to be {EVENTS} (last seen: {seen[0]})", 180)
    finally:
        stop_group(job.pid)
    assert f"Flink metrics of the mini-cluster on port {port}" in (tmp_path / "job.log").read_text()


def test_prometheus_has_the_jobs_records_in_and_the_loaders_lag_and_freshness(
    broker, flink_cluster: FlinkCluster, prometheus: Prometheus, warehouse, tmp_path
):
    # a live job: a bounded one can end, and its series go, between two scrapes
    output = submit(
        JOB_SCRIPT,
        ["--bootstrap", broker.bootstrap],
        flink_cluster.rest_url,
        2,
        300,
        flink=flink_cluster.settings,
        detached=True,
        env=job_env(tmp_path, "metrics"),
    )
    job_id = re.search(r"JobID ([0-9a-f]{32})", output).group(1)
    try:
        # Flink: the source operators' records in, summed over their subtasks
        sources = f'{FLINK_RECORDS_IN}{{job="flink", job_id="{job_id}", operator_name=~".*{RAW_SOURCE}.*"}}'
        seen: list[dict[str, float]] = [{}]

        def counted() -> bool:
            seen[0] = values(prometheus, f"sum({sources})", "")
            return seen[0] == {"": EVENTS}

        wait_for(counted, lambda: f"sum({sources}) to be {EVENTS} (last seen: {seen[0]})", 180)
        # stopped with a savepoint, its sinks flush (exactly-once: commit): its clean events are readable
        stop_with_savepoint(flink_cluster.rest_url, job_id, tmp_path / "savepoints", 300)
    finally:
        if flink_cluster.request(f"/jobs/{job_id}")["state"] not in TERMINAL:
            flink_cluster.request(f"/jobs/{job_id}?mode=cancel", method="PATCH")

    # the loader, exporting on the port Prometheus scrapes, until it has loaded every output
    # (of this run and of the mini-cluster's before it, on the same topics)
    produced: dict[str, int] = {}
    newest_release = None
    for record in records_since(broker.bootstrap, {}, OUTPUTS):
        produced[record.topic] = produced.get(record.topic, 0) + 1
        if record.topic == CLEAN.name:
            released = datetime.fromisoformat(orjson.loads(record.value)["released_at"].replace("Z", "+00:00"))
            newest_release = max(newest_release or released, released)
    assert produced[CLEAN.name] >= EVENTS and newest_release is not None
    migrate(warehouse, ClickHouseSettings())
    stop = threading.Event()
    loader = Loader(
        broker.bootstrap,
        warehouse,
        LoaderSettings(_env_file=None, group_id="metrics", batch_wait_ms=200),
        stop=stop,
        metrics_port=prometheus.metrics_ports["loader"],
    )
    loader.lag_interval_s = 0.5
    thread = threading.Thread(target=loader.run, daemon=True)
    thread.start()
    try:
        read = 'crossings_loader_records_read_total{job="loader"}'
        wait_for(lambda: values(prometheus, read, "topic") == produced, lambda: f"{read} to be {produced}")
        lag = 'crossings_loader_consumer_lag{job="loader"}'
        wait_for(
            # every topic the loader reads: the crossings job's, and the forecast job's (empty here)
            lambda: values(prometheus, lag, "topic") == dict.fromkeys(TARGETS, 0.0),
            lambda: f"{lag} to be 0 on every topic",
        )
        loaded = values(prometheus, 'crossings_loader_rows_loaded_total{job="loader"}', "table")
        freshness = values(prometheus, 'crossings_loader_freshness_seconds{job="loader"}', "table")
        asked_at = time.time()
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive()
    assert loaded["crossings"] == produced[CLEAN.name]
    # now minus the newest release loaded, as of the last scrape (at most a few seconds ago)
    expected = asked_at - newest_release.timestamp()
    assert expected - 10 <= freshness["crossings"] <= expected + 1
