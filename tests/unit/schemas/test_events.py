"""Crossing events: each validation rule rejects with its message; JSON round trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from schemas.events import (
    CHANNELS_BY_KIND,
    SCHEMA_VERSION,
    DriverCrossing,
    Kind,
    TravellerCrossing,
    TruckCrossing,
    parse_crossing,
    raw_topic,
)
from schemas.ports import load_ports

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
REF_A = "0123456789abcdef0123456789abcdef"
REF_B = "fedcba9876543210fedcba9876543210"

_BASE = {
    "event_id": "7d3f6a4e-4a3c-4c7e-9a51-1f0d2b8e6c11",
    "schema_version": SCHEMA_VERSION,
    "direction": "exit",
    "queued_at": "2024-05-01T08:00:00Z",
    "inspection_started_at": "2024-05-01T08:10:00Z",
    "released_at": "2024-05-01T08:12:30Z",
    "subject_ref": REF_A,
}
VALID: dict[Kind, dict[str, Any]] = {
    Kind.TRAVELLER: {
        **_BASE,
        "kind": "traveller",
        "port_code": "FUTIAN",
        "lane_id": "FUTIAN-EXIT-E07",
        "channel_type": "e-channel",
        "inspection_mode": "two-site",
        "category": "mainland-resident",
        "document_type": "exit-entry-permit",
    },
    Kind.DRIVER: {
        **_BASE,
        "kind": "driver",
        "port_code": "SHENZHEN_BAY",
        "lane_id": "SZB-EXIT-V03",
        "channel_type": "vehicle-lane",
        "inspection_mode": "co-location",
        "vehicle_ref": REF_B,
        "health_check": "passed",
    },
    Kind.TRUCK: {
        **_BASE,
        "kind": "truck",
        "port_code": "HUANGGANG",
        "lane_id": "HG-EXIT-F12",
        "channel_type": "freight-lane",
        "inspection_mode": "two-site",
        "plate_ref": REF_B,
        "cargo_type": "cold-chain",
        "declared_weight_kg": 18250.5,
        "customs_decision": "inspected-released",
    },
}
MODELS = {Kind.TRAVELLER: TravellerCrossing, Kind.DRIVER: DriverCrossing, Kind.TRUCK: TruckCrossing}


_DROP = object()  # a change that removes the field


def event(kind: Kind = Kind.TRAVELLER, /, **changes: Any) -> dict[str, Any]:
    """A valid event of `kind` with `changes` applied."""
    data = {**VALID[kind], **changes}
    return {k: v for k, v in data.items() if v is not _DROP}


def rejection(data: dict[str, Any]) -> tuple[str, str]:
    """(location, message) of the single error that rejects `data`."""
    with pytest.raises(ValidationError) as info:
        parse_crossing(data)
    errors = info.value.errors()
    assert len(errors) == 1, errors
    return ".".join(str(p) for p in errors[0]["loc"]), errors[0]["msg"]


@pytest.mark.parametrize("kind", list(Kind))
def test_valid_event_round_trips_through_json(kind: Kind) -> None:
    crossing = parse_crossing(VALID[kind])
    assert isinstance(crossing, MODELS[kind])
    wire = crossing.to_json()
    assert isinstance(wire, bytes)
    assert parse_crossing(wire) == crossing
    assert parse_crossing(wire.decode()) == crossing
    assert parse_crossing(orjson.loads(wire)) == crossing
    assert orjson.loads(wire) == VALID[kind]
    assert wire == crossing.model_dump_json().encode()


def test_timestamps_are_normalised_to_utc_and_written_with_z() -> None:
    crossing = parse_crossing(
        event(
            queued_at="2024-05-01T16:00:00+08:00",
            inspection_started_at=datetime(2024, 5, 1, 16, 10, tzinfo=timezone(timedelta(hours=8))),
            released_at="2024-05-01T08:12:30.250000Z",
        )
    )
    assert crossing.queued_at == T0
    assert crossing.queued_at.tzinfo is UTC
    wire = orjson.loads(crossing.to_json())
    assert wire["queued_at"] == "2024-05-01T08:00:00Z"
    assert wire["inspection_started_at"] == "2024-05-01T08:10:00Z"
    assert wire["released_at"] == "2024-05-01T08:12:30.250000Z"


def test_clearance_s_is_queue_to_release() -> None:
    assert parse_crossing(VALID[Kind.TRAVELLER]).clearance_s == 750.0


def test_models_are_frozen() -> None:
    crossing = parse_crossing(VALID[Kind.TRAVELLER])
    with pytest.raises(ValidationError, match="frozen"):
        crossing.port_code = "LUOHU"


def test_models_build_from_python_values() -> None:
    crossing = TruckCrossing(
        event_id=UUID(VALID[Kind.TRUCK]["event_id"]),
        schema_version=SCHEMA_VERSION,
        port_code="YANTIAN",
        direction="entry",
        lane_id="YT-ENTRY-F01",
        channel_type="freight-lane",
        queued_at=T0,
        inspection_started_at=T0,
        released_at=T0,
        inspection_mode="two-site",
        subject_ref=REF_A,
        plate_ref=REF_B,
        cargo_type="empty",
        declared_weight_kg=60_000,
        customs_decision="released",
    )
    assert crossing.kind is Kind.TRUCK
    assert crossing.clearance_s == 0.0
    assert orjson.loads(crossing.to_json())["kind"] == "truck"


@pytest.mark.parametrize(
    ("changes", "loc", "message"),
    [
        # registry
        ({"port_code": "LOWU"}, "traveller", "port_code 'LOWU' is not in the port registry"),
        ({"port_code": "YANTIAN"}, "traveller", "'YANTIAN' does not clear traveller crossings"),
        (
            {"port_code": "SHENZHEN_BAY"},
            "traveller",
            "inspection_mode 'two-site' does not match port SHENZHEN_BAY, which uses 'co-location'",
        ),
        (
            {"channel_type": "vehicle-lane"},
            "traveller",
            "channel_type 'vehicle-lane' is not used by traveller crossings",
        ),
        # timestamps
        (
            {"inspection_started_at": "2024-05-01T07:59:59Z"},
            "traveller",
            "inspection_started_at (2024-05-01T07:59:59Z) is before queued_at",
        ),
        (
            {"released_at": "2024-05-01T08:09:59Z"},
            "traveller",
            "released_at (2024-05-01T08:09:59Z) is before inspection_started_at",
        ),
        (
            {"released_at": "2024-05-02T08:00:01Z"},
            "traveller",
            "released_at - queued_at is 86401 s, more than the 86400 s (24 h)",
        ),
        ({"queued_at": "2024-05-01T08:00:00"}, "traveller.queued_at", "naive datetime"),
        (
            {"released_at": datetime(2024, 5, 1, 8, 30)},
            "traveller.released_at",
            "naive datetime",
        ),
        ({"queued_at": 1714550400}, "traveller.queued_at", "not a number"),
        ({"queued_at": "yesterday"}, "traveller.queued_at", "Input should be a valid datetime"),
        # version
        ({"schema_version": 2}, "traveller.schema_version", "unsupported schema version 2"),
        ({"schema_version": "1"}, "traveller.schema_version", "valid integer"),
        # refs
        ({"subject_ref": "H12345678"}, "traveller.subject_ref", "not a ref"),
        ({"subject_ref": REF_A.upper()}, "traveller.subject_ref", "not a ref"),
        ({"subject_ref": REF_A[:-1]}, "traveller.subject_ref", "not a ref"),
        ({"subject_ref": REF_A + "0"}, "traveller.subject_ref", "not a ref"),
        # enums
        ({"direction": "north"}, "traveller.direction", "'entry' or 'exit'"),
        ({"category": "tourist"}, "traveller.category", "Input should be"),
        ({"document_type": "id-card"}, "traveller.document_type", "Input should be"),
        ({"inspection_mode": "one-stop"}, "traveller.inspection_mode", "Input should be"),
        ({"kind": "pedestrian"}, "", "Input tag 'pedestrian' found using 'kind'"),
        # shape
        ({"lane_id": "lane 7"}, "traveller.lane_id", "String should match pattern"),
        ({"lane_id": ""}, "traveller.lane_id", "at least 1 character"),
        ({"document_number": "H12345678"}, "traveller.document_number", "Extra inputs"),
        ({"subject_ref": _DROP}, "traveller.subject_ref", "Field required"),
        ({"kind": _DROP}, "", "Unable to extract tag using discriminator 'kind'"),
    ],
)
def test_traveller_rule_rejects_with_its_message(changes: dict[str, Any], loc: str, message: str) -> None:
    got_loc, got_message = rejection(event(Kind.TRAVELLER, **changes))
    assert got_loc == loc
    assert message in got_message


@pytest.mark.parametrize(
    ("kind", "changes", "loc", "message"),
    [
        (Kind.DRIVER, {"vehicle_ref": "粤Z1234港"}, "driver.vehicle_ref", "not a ref"),
        (Kind.DRIVER, {"health_check": "failed"}, "driver.health_check", "'passed' or 'referred'"),
        (Kind.DRIVER, {"port_code": "LUOHU"}, "driver", "'LUOHU' does not clear driver crossings"),
        (Kind.DRIVER, {"channel_type": "e-channel"}, "driver", "channel_type 'e-channel'"),
        (Kind.TRUCK, {"plate_ref": "ZA1234"}, "truck.plate_ref", "not a ref"),
        (Kind.TRUCK, {"declared_weight_kg": 0}, "truck.declared_weight_kg", "greater than 0"),
        (
            Kind.TRUCK,
            {"declared_weight_kg": 60_000.1},
            "truck.declared_weight_kg",
            "less than or equal to 60000",
        ),
        (Kind.TRUCK, {"declared_weight_kg": float("nan")}, "truck.declared_weight_kg", "finite"),
        (Kind.TRUCK, {"cargo_type": "livestock"}, "truck.cargo_type", "Input should be"),
        (Kind.TRUCK, {"customs_decision": "seized"}, "truck.customs_decision", "Input should be"),
        (Kind.TRUCK, {"port_code": "FUTIAN"}, "truck", "'FUTIAN' does not clear truck crossings"),
        (Kind.TRUCK, {"vehicle_ref": REF_B}, "truck.vehicle_ref", "Extra inputs"),
    ],
)
def test_driver_and_truck_rules_reject_with_their_message(
    kind: Kind, changes: dict[str, Any], loc: str, message: str
) -> None:
    got_loc, got_message = rejection(event(kind, **changes))
    assert got_loc == loc
    assert message in got_message


def test_clearance_of_exactly_24_hours_is_accepted() -> None:
    crossing = parse_crossing(event(released_at="2024-05-02T08:00:00Z"))
    assert crossing.clearance_s == 86_400


def test_invalid_json_is_rejected() -> None:
    with pytest.raises(ValidationError, match="Invalid JSON"):
        parse_crossing(b'{"kind": "truck"')


def test_every_port_and_kind_of_the_registry_makes_a_valid_event() -> None:
    for port in load_ports():
        for kind in port.kinds:
            for channel in CHANNELS_BY_KIND[kind]:
                data = event(
                    kind,
                    port_code=port.code,
                    channel_type=channel,
                    inspection_mode=port.inspection_mode,
                )
                assert parse_crossing(data).port_code == port.code


@pytest.mark.parametrize("kind", list(Kind))
def test_raw_topic(kind: Kind) -> None:
    assert raw_topic(kind) == f"crossings.raw.{kind.value}"
    assert raw_topic(kind.value) == raw_topic(kind)


def test_raw_topic_rejects_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="'bus' is not a valid Kind"):
        raw_topic("bus")


@given(
    kind=st.sampled_from(list(Kind)),
    queued=st.datetimes(min_value=datetime(2021, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)),
    wait=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=12)),
    service=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=12)),
    offset_h=st.integers(min_value=-12, max_value=14),
)
def test_any_valid_event_round_trips(
    kind: Kind, queued: datetime, wait: timedelta, service: timedelta, offset_h: int
) -> None:
    local = timezone(timedelta(hours=offset_h))
    crossing = parse_crossing(
        event(
            kind,
            queued_at=queued.astimezone(local),
            inspection_started_at=queued + wait,
            released_at=(queued + wait + service).astimezone(local),
        )
    )
    wire = crossing.to_json()
    assert parse_crossing(wire) == crossing
    assert crossing.clearance_s == (wait + service).total_seconds()
    assert all(orjson.loads(wire)[f].endswith("Z") for f in ("queued_at", "released_at"))


@pytest.mark.parametrize("kind", list(Kind))
def test_from_trusted_builds_the_same_event_as_validation(kind: Kind) -> None:
    validated = parse_crossing(VALID[kind])
    trusted = MODELS[kind].from_trusted(**dict(reversed(validated.__dict__.items())))
    assert trusted == validated
    assert trusted.to_json() == validated.to_json()
    assert trusted.model_fields_set == validated.model_fields_set


def test_from_trusted_requires_every_field() -> None:
    fields = dict(parse_crossing(VALID[Kind.TRUCK]).__dict__)
    del fields["plate_ref"]
    with pytest.raises(KeyError, match="plate_ref"):
        TruckCrossing.from_trusted(**fields)
