"""The `crossing-json` format (pipeline/jvm) in process, on payloads from a file: each record's
verdict against the event models (the reference of every job test), its typed columns, and
dead letters that keep no identifier."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from bench.chaos.expected import dead_letter_class, millis
from deploy.services.settings import FlinkSettings
from pipeline.jobs.crossings import PARSED_COLUMNS
from pipeline.jobs.settings import PipelineSettings
from pipeline.transforms.sql import literal
from schemas.contract import contract_json
from schemas.events import parse_crossing
from schemas.privacy import PrivacySettings, Pseudonymiser
from tests.integration.pipeline.crossings_data import CLEAR_IDENTIFIER, invalid_records, simulated_day

from .conftest import ENVIRONMENT_AT_START, collect, lines_table

SKEW_S = PipelineSettings().skew_tolerance_s


@pytest.fixture(scope="module")
def day():
    return simulated_day(0.001, seed=5)


def parsed(table_env, tmp_path, payloads: list[bytes]) -> list[dict]:
    options = (
        f"'format' = 'crossing-json', 'crossing-json.contract' = {literal(contract_json())}, "
        f"'crossing-json.skew-tolerance-s' = '{SKEW_S}'"
    )
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
            str(event.event_id),
            event.kind.value,
            event.port_code,
            event.direction.value,
            event.channel_type.value,
        )
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
        reference_class(record.value, now) for record in records
    )
    for row in rows:
        assert CLEAR_IDENTIFIER not in json.dumps(row, default=str)
        assert row["payload"] is None or all(
            re.fullmatch("[0-9a-f]{32}", value)
            for name, value in json.loads(row["payload"]).items()
            if name.endswith("_ref")
        )


@pytest.mark.parametrize(
    "change, reason",
    [
        (
            {"schema_version": "1"},
            "invalid-field: schema_version is a string, the wrong JSON type (expected an integer)",
        ),
        (
            {"schema_version": 1.0},
            "invalid-field: schema_version is a number, the wrong JSON type (expected an integer)",
        ),
        ({"port_code": 7}, "invalid-field: port_code is an integer, the wrong JSON type (expected a string)"),
        ({"category": None}, "missing-field: category"),
        ({"passport_no": "X"}, "unknown-field: passport_no"),
        ({"plate_ref": "0" * 32}, "unknown-field: plate_ref"),
        ({"subject_ref": "P1"}, "invalid-field: subject_ref is not a ref (32 hex)"),
        (
            {"released_at": "2024-05-01T08:00:00+08:00"},
            "invalid-field: released_at is not an ISO-8601 UTC time ending in Z",
        ),
        ({"released_at": "2024-02-30T08:00:00Z"}, "invalid-field: released_at is not an ISO-8601 UTC time ending in Z"),
    ],
)
def test_reasons_name_the_field_and_the_rule(table_env, tmp_path, day, change, reason):
    traveller = orjson.loads(next(e for e in day if e.kind.value == "traveller").to_json())
    [row] = parsed(table_env, tmp_path, [orjson.dumps({**traveller, **change})])
    assert row["reason"] == reason


def test_a_record_that_is_not_a_json_object_keeps_no_payload(table_env, tmp_path):
    rows = parsed(table_env, tmp_path, [b'{"subject_ref": "P12345678"', b"[1, 2]", b"null"])
    assert [(row["reason"], row["payload"]) for row in rows] == [("malformed-json: not a JSON object", None)] * 3


# Identifiers as they come: full-width forms, Unicode spaces (every character Python's \\s takes,
# U+001C-U+001F included), hyphens, dots, brackets, cases that upper-case to more letters.
IDENTIFIERS = [
    "P12345678",
    "p1234 5678",
    "ｐ１２３４５６７８",
    "Ｅ１２３－４５６．７８（９）",
    "e 123-456.78 (9)",
    "粤Z12345港",
    "粤Ｚ１２３４５港",
    "AB\u300012\u00a034",
    "x\u2003y\u202fz\u205fw\u1680v",
    "a\x1cb\x1dc\x1ed\x1ff",
    "tab\tnew\nline\rv\x0bf\x0cnel\x85",
    "straße",
    "ﬁle",
    "Ⅻ",
    "㍿",
    "İstanbul",
    "ǆ",
    "ÅÄÖ",
    "\u2028l\u2029p",
    "0",
    "ｱｲｳ",
]


def test_java_refs_equal_the_python_refs():
    """crossings.flink.Refs in the JVM of the session (py4j) against schemas.privacy."""
    from pyflink.java_gateway import get_gateway

    java = get_gateway().jvm.crossings.flink.Refs.fromEnvironment()
    python = Pseudonymiser.from_settings(PrivacySettings())
    for namespace in ("document", "licence", "plate"):
        assert [java.ref(namespace, identifier) for identifier in IDENTIFIERS] == [
            python.ref(namespace, identifier) for identifier in IDENTIFIERS
        ]


@pytest.mark.parametrize(
    "environment, rule",
    [
        ({}, "is not set"),
        ({"PRIVACY_HMAC_KEY": "  "}, "is not set"),
        ({"PRIVACY_HMAC_KEY": "Change-Me" * 4}, "placeholder"),
        ({"PRIVACY_HMAC_KEY": "s3cr3t-but-short"}, "32 bytes"),
    ],
)
def test_a_missing_or_weak_key_is_refused_by_name_and_never_shown(environment, rule):
    from py4j.protocol import Py4JJavaError
    from pyflink.java_gateway import get_gateway

    gateway = get_gateway()
    env = gateway.jvm.java.util.HashMap()
    for name, value in environment.items():
        env.put(name, value)
    with pytest.raises(Py4JJavaError) as refused:
        gateway.jvm.crossings.flink.Refs.fromEnvironment(env)
    message = str(refused.value.java_exception.getMessage())
    assert message.startswith("PRIVACY_HMAC_KEY ") and rule in message
    assert all(value.strip() not in message for value in environment.values() if value.strip())


def test_dead_letters_carry_the_refs_of_their_identifiers(table_env, tmp_path, day):
    python = Pseudonymiser.from_settings(PrivacySettings())
    traveller = orjson.loads(next(e for e in day if e.kind.value == "traveller").to_json())
    driver = orjson.loads(next(e for e in day if e.kind.value == "driver").to_json())
    clear = {f"passport_{i}": identifier for i, identifier in enumerate(IDENTIFIERS)}
    records = [
        {
            **traveller,
            **clear,
            "subject_ref": "ｐ１２３４５６７８",
            "plate_no": "粤Z12345港",
            "licence_no": "D 1234",
            "note": "free text",
            "numeric": 12345678,
            "nested": {"passport": "P1"},
            "nothing": None,
            "only_formatting": " - ",
            "document_type": "",
        },
        {**driver, "subject_ref": "0012-3456-7890", "vehicle_ref": "粤Z12345港"},
        {**driver, "event_id": str(uuid.uuid4()), "passport_no": "P1"},
    ]
    rows = parsed(table_env, tmp_path, [orjson.dumps(record) for record in records])
    payloads = {json.loads(row["payload"])["event_id"]: json.loads(row["payload"]) for row in rows}
    traveller_letter, driver_letter, valid_refs = (payloads[record["event_id"]] for record in records)
    document, licence, plate = (
        lambda identifier, ns=ns: python.ref(ns, identifier) for ns in ("document", "licence", "plate")
    )
    assert traveller_letter == {
        **{name: value for name, value in traveller.items() if name not in ("subject_ref", "document_type")},
        **{name: document(identifier) for name, identifier in clear.items()},
        "subject_ref": document("P12345678"),
        "plate_no": plate("粤Z12345港"),
        "licence_no": licence("D1234"),
        "note": document("free text"),
        "numeric": document("12345678"),
        "nested": document('{"passport":"P1"}'),
        "nothing": None,  # a null says nothing; a value that normalises to nothing is dropped
    }
    # a driver's subject is a licence, a vehicle a plate: the refs its producer should have written
    assert (driver_letter["subject_ref"], driver_letter["vehicle_ref"]) == (
        licence("001234567890"),
        plate("粤Z12345港"),
    )
    # refs stay as they are, and fields that are no identifiers keep their values
    assert {name: value for name, value in valid_refs.items() if name not in ("passport_no", "event_id")} == {
        name: value for name, value in driver.items() if name != "event_id"
    }
    assert valid_refs["passport_no"] == document("P1")


MISSING_KEY_SCRIPT = """
import sys
from pathlib import Path
from pipeline.jobs.crossings import PARSED_COLUMNS
from deploy.services.settings import FlinkSettings
from pipeline.runtime import stream_environments
from pipeline.transforms.sql import literal
from schemas.privacy import PrivacySettings
from schemas.contract import contract_json

folder = Path(sys.argv[1])
(folder / "part-0").write_text('{"kind": "traveller"}\\n')
_, env = stream_environments(FlinkSettings(), PrivacySettings(), 1)
env.execute_sql(f"CREATE TEMPORARY TABLE payloads ({PARSED_COLUMNS}) WITH ('connector' = 'filesystem', "
                f"'path' = '{folder}', 'format' = 'crossing-json', "
                f"'crossing-json.contract' = {literal(contract_json())}, 'crossing-json.skew-tolerance-s' = '300')")
try:
    with env.from_path("payloads").execute().collect() as rows:
        print("parsed", list(rows))
except Exception as error:
    print(error)
"""


def test_the_format_fails_at_open_naming_the_key_when_the_taskmanager_has_none(tmp_path):
    """A mini-cluster started without PRIVACY_HMAC_KEY (none in the environment, no `.env`)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[4]
    env = {name: value for name, value in ENVIRONMENT_AT_START.items() if name != "PRIVACY_HMAC_KEY"}
    env.update(PYTHONPATH=str(root), FLINK_CONNECTOR_JARS_DIR=str(FlinkSettings().connector_jars_dir.resolve()))
    (tmp_path / "input").mkdir()
    result = subprocess.run(
        [sys.executable, "-c", MISSING_KEY_SCRIPT, str(tmp_path / "input")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "parsed" not in result.stdout, result.stdout
    assert "IllegalStateException: PRIVACY_HMAC_KEY is not set in the environment of this TaskManager" in result.stdout
