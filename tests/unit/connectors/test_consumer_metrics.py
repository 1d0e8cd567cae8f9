"""The Prometheus metrics of the loader and the dispatcher (connectors/kafka/consumer.py and
their loops): the figures after a run against the fakes of the other unit tests (a fake reader
in place of Kafka, a warehouse double, webhooks on local HTTP servers), read from each loop's
own registry, and the exporter served during a run and gone after it."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime

import orjson
import pytest

from connectors.clickhouse.loader import TARGETS, Loader
from connectors.clickhouse.settings import LoaderSettings
from connectors.kafka.consumer import Record
from connectors.kafka.topics import ALERTS, DEAD_LETTERS
from tests.integration.connectors.webhooks import Receiver

from .test_alert_delivery import FakeReader, alerts, dispatcher_for, records
from .test_alert_messages import RAISED, RESOLVED
from .test_loader_refusals import RefusingWarehouse


class LaggingReader(FakeReader):
    """A FakeReader whose lag is `lag` (per topic)."""

    def __init__(self, batches: list[list[Record]], lag: dict[str, int]) -> None:
        super().__init__(batches)
        self.lag_per_topic = lag

    def lag(self) -> dict[str, int]:
        return dict(self.lag_per_topic)


def value(loop, name: str, **labels: str) -> float | None:
    return loop.registry.get_sample_value(name, labels)


def episode(number: int, **fields: object) -> bytes:
    return orjson.dumps({**RAISED, "episode_id": str(uuid.UUID(int=number)), **fields})


DEAD_LETTER = {"reason": "bad", "topic": "t", "partition": 0, "offset": 1, "payload": "{}"}


def test_a_loader_run_exports_rows_rejects_insert_times_lag_and_freshness_per_table():
    poison = str(uuid.UUID(int=3))
    batches = [
        [
            Record(ALERTS.name, 0, 0, episode(1)),
            Record(ALERTS.name, 0, 1, episode(2, state="resolved", ended_at="2024-05-01T08:20:00.250Z")),
            Record(ALERTS.name, 0, 2, episode(3, started_at="2030-01-01T00:00:00Z")),  # refused by the warehouse
            Record(ALERTS.name, 0, 3, b"not json"),  # rejected: not a row
            Record(ALERTS.name, 0, 4, None),  # a tombstone: read, not a row
        ],
        [
            Record(DEAD_LETTERS.name, 1, 7, orjson.dumps({**DEAD_LETTER, "detected_at": "2024-05-01T08:05:00Z"})),
            Record(DEAD_LETTERS.name, 1, 8, orjson.dumps({**DEAD_LETTER, "detected_at": "2024-05-01T08:04:00Z"})),
        ],
    ]
    warehouse = RefusingWarehouse(poison={poison})
    settings = LoaderSettings(_env_file=None, refused_tries=1, backoff_initial_ms=1, backoff_max_ms=1)
    reader = LaggingReader(batches, lag={ALERTS.name: 0, DEAD_LETTERS.name: 0})
    loader = Loader("unused:9092", warehouse, settings, stop=threading.Event(), reader=reader)
    reader.lag_per_topic = {ALERTS.name: 0, DEAD_LETTERS.name: 0}
    loader.run(once=True)
    reader.lag_per_topic = {ALERTS.name: 12, DEAD_LETTERS.name: 0}
    loader.update_lag()

    assert value(loader, "crossings_loader_records_read_total", topic=ALERTS.name) == 5
    assert value(loader, "crossings_loader_records_read_total", topic=DEAD_LETTERS.name) == 2
    assert value(loader, "crossings_loader_rows_loaded_total", table="alerts") == 2
    assert value(loader, "crossings_loader_rows_loaded_total", table="dead_letters") == 2
    # one row not a row of alerts, one refused by ClickHouse
    assert value(loader, "crossings_loader_rejected_rows_total", table="alerts") == 2
    assert value(loader, "crossings_loader_rejected_rows_total", table="dead_letters") is None
    assert value(loader, "crossings_loader_consumer_lag", topic=ALERTS.name) == 12
    assert value(loader, "crossings_loader_consumer_lag", topic=DEAD_LETTERS.name) == 0
    # one observation per insert that succeeded: alerts 1 (before the split: refused), its
    # halves 1 of 2 taken, load_rejects not a table of the metric; dead_letters 1
    assert value(loader, "crossings_loader_insert_seconds_count", table="dead_letters") == 1
    assert value(loader, "crossings_loader_insert_seconds_count", table="alerts") >= 1
    assert value(loader, "crossings_loader_insert_seconds_sum", table="dead_letters") > 0
    # freshness: now minus the newest event time loaded (the refused 2030 episode is not loaded)
    now = time.time()
    ended = datetime(2024, 5, 1, 8, 20, 0, 250000, tzinfo=UTC).timestamp()
    detected = datetime(2024, 5, 1, 8, 5, tzinfo=UTC).timestamp()
    assert value(loader, "crossings_loader_freshness_seconds", table="alerts") == pytest.approx(now - ended, abs=5)
    assert value(loader, "crossings_loader_freshness_seconds", table="dead_letters") == pytest.approx(
        now - detected, abs=5
    )
    assert {table for table, _ in warehouse.calls} == {"alerts", "dead_letters", "load_rejects"}


def test_every_table_of_the_loader_is_a_freshness_label_once_it_has_rows():
    assert {target.table for target in TARGETS.values()} == {
        "crossings",
        "throughput_windows",
        "clearance_windows",
        "alerts",
        "dead_letters",
        "pipeline_counts",
        "clearance_forecast",
    }
    for target in TARGETS.values():
        times = ("_at", "window_", "minute")
        row = tuple("2024-05-01 08:00:00" if any(part in c for part in times) else 1 for c in target.columns)
        assert target.newest([row]) == datetime(2024, 5, 1, 8, tzinfo=UTC).timestamp(), target.table


def test_a_dispatcher_run_exports_deliveries_and_failures_per_receiver_never_its_url():
    values = [*alerts(4), orjson.dumps(RESOLVED)]
    reader = FakeReader([records(0, 0, *values[:3]), records(1, 0, *values[3:], None)])
    with Receiver(then=404) as refusing, Receiver() as healthy:
        dispatcher = dispatcher_for([refusing.url("/hooks/s3cret"), healthy.url()], reader)
        dispatcher.run(once=True)
    assert value(dispatcher, "crossings_dispatcher_records_read_total", topic="alerts") == 6
    assert value(dispatcher, "crossings_dispatcher_deliveries_total", receiver="webhook 2") == 5
    assert value(dispatcher, "crossings_dispatcher_deliveries_total", receiver="webhook 1") == 0
    assert value(dispatcher, "crossings_dispatcher_failed_deliveries_total", receiver="webhook 1") == 5
    assert value(dispatcher, "crossings_dispatcher_failed_deliveries_total", receiver="webhook 2") == 0
    assert value(dispatcher, "crossings_dispatcher_consumer_lag", topic="alerts") == 0
    receivers = {
        sample.labels.get("receiver")
        for family in dispatcher.registry.collect()
        for sample in family.samples
        if "receiver" in sample.labels
    }
    assert receivers == {"webhook 1", "webhook 2"}


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        return answer.read().decode()


def test_the_exporter_serves_the_registry_on_a_free_port_during_the_run_and_stops_with_it(caplog):
    reader = FakeReader([records(0, 0, *alerts(2))])
    stop = threading.Event()
    dispatcher = dispatcher_for([], reader, stop)
    dispatcher.metrics_port = 0
    caplog.set_level("INFO")
    thread = threading.Thread(target=dispatcher.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while (not dispatcher.metrics_port or dispatcher.stats.alerts < 2) and time.monotonic() < deadline:
            time.sleep(0.02)
        port = dispatcher.metrics_port
        assert port and f"metrics on port {port}" in caplog.text
        text = scrape(port)
    finally:
        stop.set()
        thread.join(10)
    assert 'crossings_dispatcher_records_read_total{topic="alerts"} 2.0' in text
    assert "crossings_dispatcher_consumer_lag" in text
    assert not thread.is_alive()
    with pytest.raises(OSError):
        scrape(port)


def test_a_metrics_port_in_use_is_logged_and_the_run_goes_on(caplog):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        dispatcher = dispatcher_for([], FakeReader([records(0, 0, *alerts(2))]))
        dispatcher.metrics_port = port
        stats = dispatcher.run(once=True)
    assert stats.alerts == 2 and dispatcher._exporter is None
    assert f"metrics not exported: cannot listen on port {port}" in caplog.text
