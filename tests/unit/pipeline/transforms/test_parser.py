"""The `crossing-json` format (pipeline/jvm) in process, on payloads from a file: each record's
verdict against the event models (the reference of every job test), its typed columns, and
dead letters that keep no identifier."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from bench.chaos.expected import dead_letter_class, millis
from pipeline.jobs.crossings import PARSED_COLUMNS
from pipeline.settings import PipelineSettings
from pipeline.transforms.sql import literal
from schemas.contract import contract_json
from schemas.events import parse_crossing
from tests.integration.pipeline.crossings_data import CLEAR_IDENTIFIER, invalid_records, simulated_day
from .conftest import collect, lines_table

SKEW_S = PipelineSettings().skew_tolerance_s


@pytest.fixture(scope="module")
def day():
    return simulated_day(0.001, seed=5)


def parsed(table_env, tmp_path, payloads: list[bytes]) -> list[dict]:
    options = (f"'format' = 'crossing-json', 'crossing-json.contract' = {literal(contract_json())}, "
               f"'crossing-json.skew-tolerance-s' = '{SKEW_S}'")
    table = lines_table(table_env, tmp_path, PARSED_COLUMNS, (p.decode() for p in payloads), options)
    return collect(table)


def reference_class(value: bytes, now: datetime) -> str | None:
    try:
        event = parse_crossing(value)
        if event.released_at > now + timedelta(seconds=SKEW_S):
            raise ValueError("clock-skew")
    except ValueError as error:
        return dead_letter_class(type("Record", (), {"value": value})(), error)
    return None


def test_valid_events_parse_into_their_typed_columns(table_env, tmp_path, day):
    events = day[:200]
    rows = parsed(table_env, tmp_path, [event.to_json() for event in events])
    assert len(rows) == len(events)
    for row, event in zip(sorted(rows, key=lambda r: r["event_id"]), sorted(events, key=lambda e: str(e.event_id))):
        assert row["reason"] is None
        assert (row["event_id"], row["kind"], row["port_code"], row["direction"], row["channel_type"]) == (
            str(event.event_id), event.kind.value, event.port_code, event.direction.value, event.channel_type.value)
        assert millis(row["event_time"].replace(tzinfo=UTC)) == millis(event.released_at)
        assert row["clearance_ms"] == millis(event.released_at) - millis(event.queued_at)
        assert json.loads(row["payload"]) == json.loads(event.to_json())


def test_invalid_records_get_the_models_class_and_keep_no_identifier(table_env, tmp_path, day):
    now = datetime.now(UTC)
    traveller = next(e for e in day if e.kind.value == "traveller")
    truck = next(e for e in day if e.kind.value == "truck")
    records = invalid_records(traveller, truck, now)
    rows = parsed(table_env, tmp_path, [record.value for record in records])
    assert sorted(row["reason"].split(":")[0] for row in rows) == sorted(
        reference_class(record.value, now) for record in records)
    for row in rows:
        assert CLEAR_IDENTIFIER not in json.dumps(row, default=str)
        assert row["payload"] is None or all(
            value == "<redacted>" for name, value in json.loads(row["payload"]).items() if name.endswith("_ref"))


@pytest.mark.parametrize("change, reason", [
    ({"schema_version": "1"}, "invalid-field: schema_version is a string, the wrong JSON type (expected an integer)"),
    ({"schema_version": 1.0}, "invalid-field: schema_version is a number, the wrong JSON type (expected an integer)"),
    ({"port_code": 7}, "invalid-field: port_code is an integer, the wrong JSON type (expected a string)"),
    ({"category": None}, "missing-field: category"),
    ({"passport_no": "X"}, "unknown-field: passport_no"),
    ({"plate_ref": "0" * 32}, "unknown-field: plate_ref"),
    ({"subject_ref": "P1"}, "invalid-field: subject_ref is not a ref (32 hex)"),
    ({"released_at": "2024-05-01T08:00:00+08:00"}, "invalid-field: released_at is not an ISO-8601 UTC time ending in Z"),
    ({"released_at": "2024-02-30T08:00:00Z"}, "invalid-field: released_at is not an ISO-8601 UTC time ending in Z"),
])
def test_reasons_name_the_field_and_the_rule(table_env, tmp_path, day, change, reason):
    traveller = orjson.loads(next(e for e in day if e.kind.value == "traveller").to_json())
    [row] = parsed(table_env, tmp_path, [orjson.dumps({**traveller, **change})])
    assert row["reason"] == reason


def test_a_record_that_is_not_a_json_object_keeps_no_payload(table_env, tmp_path):
    rows = parsed(table_env, tmp_path, [b'{"subject_ref": "P12345678"', b"[1, 2]", b"null"])
    assert [(row["reason"], row["payload"]) for row in rows] == [("malformed-json: not a JSON object", None)] * 3
