"""The loader's conversion of each output topic's JSON into a row of its table."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from connectors.clickhouse.loader import TARGETS, RowError, timestamp
from connectors.kafka.topics import ALERTS, CLEAN, CLEARANCE, DEAD_LETTERS, FORECAST, PIPELINE_COUNTS, THROUGHPUT

TRUCK = {
    "event_id": "446ca2a9-ba97-4421-ab3f-aaf33c1fed41",
    "schema_version": 1,
    "kind": "truck",
    "port_code": "HUANGGANG",
    "direction": "exit",
    "lane_id": "exit-freight-lane-02",
    "channel_type": "freight-lane",
    "queued_at": "2024-04-30T16:00:39.274354Z",
    "inspection_started_at": "2024-04-30T16:00:39.274Z",
    "released_at": "2024-04-30T16:02:18Z",
    "inspection_mode": "two-site",
    "subject_ref": "f59453acf19d185979dd84676b8175cc",
    "plate_ref": "9918142de1ffb85d9bdaf188ab2b0a55",
    "cargo_type": "general",
    "declared_weight_kg": 16870.0,
    "customs_decision": "released",
}


def convert(topic: str, value: dict | bytes, partition: int = 2, offset: int = 41) -> dict:
    target = TARGETS[topic]
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    row = target.convert(raw, partition, offset)
    assert len(row) == len(target.columns)
    return dict(zip(target.columns, row))


def test_every_output_topic_has_its_table():
    assert {topic: target.table for topic, target in TARGETS.items()} == {
        CLEAN.name: "crossings",
        THROUGHPUT.name: "throughput_windows",
        CLEARANCE.name: "clearance_windows",
        PIPELINE_COUNTS.name: "pipeline_counts",
        ALERTS.name: "alerts",
        DEAD_LETTERS.name: "dead_letters",
        FORECAST.name: "clearance_forecast",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T08:00:00Z", "2024-05-01 08:00:00"),
        ("2024-05-01T08:00:00.123Z", "2024-05-01 08:00:00.123"),
        ("2024-05-01T08:00:00.123456789Z", "2024-05-01 08:00:00.123456789"),
    ],
)
def test_iso_utc_timestamps_become_clickhouse_text(text, expected):
    assert timestamp(text) == expected


@pytest.mark.parametrize("text", ["2024-05-01 08:00:00", "2024-05-01T08:00:00+08:00", "yesterday", 1714550400, None])
def test_other_timestamps_are_rejected(text):
    with pytest.raises(RowError):
        timestamp(text)


def test_a_truck_crossing_with_nulls_for_the_other_kinds_fields():
    row = convert(CLEAN.name, TRUCK)
    assert row["queued_at"] == "2024-04-30 16:00:39.274354"
    assert row["released_at"] == "2024-04-30 16:02:18"
    assert row["plate_ref"] == TRUCK["plate_ref"] and row["declared_weight_kg"] == 16870.0
    assert row["category"] is row["document_type"] is row["vehicle_ref"] is row["health_check"] is None
    assert (row["kafka_partition"], row["kafka_offset"]) == (2, 41)


def test_a_traveller_crossing():
    traveller = {
        k: v for k, v in TRUCK.items() if k not in {"plate_ref", "cargo_type", "declared_weight_kg", "customs_decision"}
    }
    traveller.update(kind="traveller", category="hk-macao-resident", document_type="home-return-permit")
    row = convert(CLEAN.name, traveller)
    assert (row["category"], row["document_type"]) == ("hk-macao-resident", "home-return-permit")
    assert row["plate_ref"] is row["declared_weight_kg"] is row["customs_decision"] is None


def test_windows_counts_and_alerts_carry_the_offset_as_version():
    throughput = convert(
        THROUGHPUT.name,
        {
            "window_start": "2024-05-01T08:00:00Z",
            "window_end": "2024-05-01T08:01:00Z",
            "port_code": "LUOHU",
            "kind": "traveller",
            "direction": "entry",
            "channel_type": "e-channel",
            "crossings": 12,
        },
    )
    assert throughput == {
        "window_start": "2024-05-01 08:00:00",
        "window_end": "2024-05-01 08:01:00",
        "port_code": "LUOHU",
        "kind": "traveller",
        "direction": "entry",
        "channel_type": "e-channel",
        "crossings": 12,
        "version": 41,
    }
    clearance = convert(
        CLEARANCE.name,
        {
            "window_start": "2024-05-01T08:00:00Z",
            "window_end": "2024-05-01T08:05:00Z",
            "port_code": "LUOHU",
            "kind": "traveller",
            "direction": "entry",
            "crossings": 3,
            "mean_s": 10,
            "p50_s": 9.5,
            "p90_s": 20.0,
            "p99_s": 21.0,
            "max_s": 22.0,
        },
    )
    assert clearance["mean_s"] == 10.0 and isinstance(clearance["mean_s"], float) and clearance["version"] == 41
    counts = convert(
        PIPELINE_COUNTS.name,
        {
            "received_minute": "2024-05-01T08:00:00Z",
            "topic": "crossings.raw.truck",
            "received": 5,
            "clean": 3,
            "dead_letters": 1,
            "duplicates": 1,
            "too_late": 0,
        },
    )
    assert list(counts.values()) == ["2024-05-01 08:00:00", "crossings.raw.truck", 5, 3, 1, 1, 0, 41]
    raised = convert(
        ALERTS.name,
        {
            "episode_id": "5b9e7067-c32f-4a7d-aaa5-6d947ad567b9",
            "state": "raised",
            "severity": "critical",
            "port_code": "LUOHU",
            "kind": "traveller",
            "direction": "entry",
            "started_at": "2024-05-01T08:00:00Z",
            "ended_at": None,
            "peak_p90_s": 900.0,
            "threshold_s": 300,
        },
        offset=7,
    )
    assert raised["ended_at"] is None and raised["started_at"] == "2024-05-01 08:00:00" and raised["version"] == 7


def test_a_forecast_keeps_its_issue_and_target_minutes_and_the_offset_as_version():
    forecast = {
        "issued_at": "2024-05-01T08:00:00Z",
        "port_code": "SHENZHEN_BAY",
        "kind": "traveller",
        "direction": "exit",
        "horizon_min": 30,
        "target_at": "2024-05-01T08:30:00Z",
        "p90_s": 1980.5,
        "usual_p90_s": 600.0,
        "queue": 41.25,
        "capacity_per_min": 2.5,
        "arrival_ratio": 1.8,
    }
    row = convert(FORECAST.name, forecast, offset=7)
    assert (row["issued_at"], row["target_at"]) == ("2024-05-01 08:00:00", "2024-05-01 08:30:00")
    assert {k: row[k] for k in forecast if not k.endswith("_at")} == {
        k: v for k, v in forecast.items() if not k.endswith("_at")
    }
    assert row["version"] == 7
    # its freshness is the minute it was issued, not the future minute it is for
    target = TARGETS[FORECAST.name]
    assert target.newest([tuple(row.values())]) == datetime(2024, 5, 1, 8, tzinfo=UTC).timestamp()


def test_a_dead_letter_keeps_its_raw_coordinates_and_payload():
    letter = convert(
        DEAD_LETTERS.name,
        {
            "reason": "bad-json: unexpected end",
            "topic": "crossings.raw.truck",
            "partition": 3,
            "offset": 17,
            "payload": '{"event_id":',
            "detected_at": "2024-05-01T08:00:00Z",
        },
    )
    assert letter == {
        "reason": "bad-json: unexpected end",
        "topic": "crossings.raw.truck",
        "partition": 3,
        "offset": 17,
        "payload": '{"event_id":',
        "detected_at": "2024-05-01 08:00:00",
    }


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        b"[1, 2]",
        b"{}",
        orjson.dumps({**TRUCK, "released_at": "soon"}),
        orjson.dumps({**TRUCK, "declared_weight_kg": "heavy"}),
    ],
)
def test_records_that_cannot_be_rows_raise_row_error(value):
    with pytest.raises(RowError):
        convert(CLEAN.name, value)
