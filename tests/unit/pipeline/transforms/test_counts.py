"""Reconciliation counts in process: per topic and minute of arrival in Kafka, received = clean +
dead letters + duplicates, and too-late events counted among the clean."""

from __future__ import annotations

from datetime import datetime, timedelta

from pyflink.table.expressions import col

from pipeline.transforms.counts import pipeline_counts
from pipeline.transforms.streams import first_occurrences, mark_lateness

from .conftest import final_rows, raw_table

T0 = datetime(2024, 5, 1, 8, 0)
TRAVELLER, TRUCK = "crossings.raw.traveller", "crossings.raw.truck"


def record(event_id: str, topic: str, arrived: datetime, event_time: datetime = T0, reason: str | None = None) -> dict:
    return {
        "reason": reason,
        "event_id": event_id,
        "port_code": "HUANGGANG",
        "topic": topic,
        "event_time": f"{event_time:%Y-%m-%d %H:%M:%S}",
        "arrived_at": f"{arrived:%Y-%m-%d %H:%M:%S}",
    }


def test_counts_reconcile_per_topic_and_minute_of_arrival(table_env, tmp_path):
    later = T0 + timedelta(minutes=1, seconds=5)
    records = [
        record("a", TRAVELLER, T0),
        record("a", TRAVELLER, T0),
        record("b", TRAVELLER, T0),
        record("x", TRAVELLER, T0, reason="invalid-json"),
        record("c", TRAVELLER, later, event_time=T0 + timedelta(hours=1)),
        record("d", TRAVELLER, later),  # an hour behind its stream: too late
        record("a", TRAVELLER, later),  # a duplicate a minute on
        record("t", TRUCK, T0),
        record("y", TRUCK, T0, reason="unknown-field: passport_no"),
    ]
    parsed = mark_lateness(table_env, raw_table(table_env, tmp_path, records), 30, 600)
    clean = first_occurrences(table_env, parsed.where(col("reason").is_null))
    counts = final_rows(pipeline_counts(table_env, parsed, clean), "received_minute", "topic")
    figures = {
        key: tuple(row[name] for name in ("received", "clean", "dead_letters", "duplicates", "too_late"))
        for key, row in counts.items()
    }
    assert figures == {
        ("2024-05-01T08:00:00Z", TRAVELLER): (4, 2, 1, 1, 0),
        ("2024-05-01T08:01:00Z", TRAVELLER): (3, 2, 0, 1, 1),
        ("2024-05-01T08:00:00Z", TRUCK): (2, 1, 1, 0, 0),
    }
    for received, clean_count, dead, duplicates, _ in figures.values():
        assert received == clean_count + dead + duplicates
