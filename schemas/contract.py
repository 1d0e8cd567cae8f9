"""The raw-event contract as data: what the job's JVM parser (`crossing-json` format, in
pipeline/jvm) checks, derived from the event models and the port registry so that the rules
have one definition.

The parser reads a payload once and applies, in this order, the first rule broken being the
dead letter's reason: a JSON object; `kind` present and known; every field of that kind
present (a JSON null is absent); each field of the JSON type its model wants (strict, as
pydantic's JSON mode: no string where a number belongs); each value in its domain (`checks`);
no field the kind's model does not have (`extra="forbid"`); then the rules across fields
(channel for the kind, port known, port clears the kind, the port's inspection mode, ordered
timestamps, clearance <= 24 h) and the clock-skew rule.
"""

from __future__ import annotations

import json
import typing
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from pydantic.fields import FieldInfo

from schemas.enums import Kind
from schemas.events import (
    CHANNELS_BY_KIND,
    MAX_CLEARANCE,
    MAX_DECLARED_WEIGHT_KG,
    SCHEMA_VERSION,
    DriverCrossing,
    TravellerCrossing,
    TruckCrossing,
)
from schemas.ports import PortRegistry, load_ports

MODELS = {Kind.TRAVELLER: TravellerCrossing, Kind.DRIVER: DriverCrossing, Kind.TRUCK: TruckCrossing}
REF_FIELDS = ("subject_ref", "vehicle_ref", "plate_ref")
LANE_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"


def field_check(name: str, info: FieldInfo) -> tuple[str, str]:
    """(JSON type, domain check) of one model field."""
    annotation = info.annotation
    if typing.get_origin(annotation) is typing.Literal:
        return "string", "enum"
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return "string", "enum"
    if annotation is UUID:
        return "string", "uuid"
    if annotation is datetime:
        return "string", "timestamp"
    if annotation is int:
        return "integer", "version"
    if annotation is float:
        return "number", "weight"
    if name in REF_FIELDS:
        return "string", "ref"
    if name == "lane_id":
        return "string", "lane"
    if annotation is str:
        return "string", "text"
    raise TypeError(f"{name}: no parser rule for {annotation!r}")  # a new field type needs one


def enum_values(info: FieldInfo) -> list[str] | None:
    annotation = info.annotation
    if typing.get_origin(annotation) is typing.Literal:
        return [str(value.value) for value in typing.get_args(annotation)]
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return [member.value for member in annotation]
    return None


def crossing_contract(ports: PortRegistry | None = None) -> dict:
    """The contract the JVM parser reads (`crossing-json.contract`)."""
    ports = ports or load_ports()
    fields: dict[str, FieldInfo] = {}
    for model in MODELS.values():
        fields.update({name: info for name, info in model.model_fields.items() if name != "kind"})
    checked = {name: field_check(name, info) for name, info in fields.items()}
    return {
        "schema_version": SCHEMA_VERSION,
        "kinds": [kind.value for kind in Kind],
        "fields": {
            kind.value: [name for name in model.model_fields if name != "kind"] for kind, model in MODELS.items()
        },
        "types": {name: json_type for name, (json_type, _) in checked.items()},
        "checks": [[name, check] for name, (_, check) in checked.items() if check != "text"],
        "enums": {name: values for name, info in fields.items() if isinstance(values := enum_values(info), list)},
        "channels": {kind.value: sorted(channels) for kind, channels in CHANNELS_BY_KIND.items()},
        "ports": {
            port.code: {"kinds": sorted(port.kinds), "inspection_mode": port.inspection_mode.value} for port in ports
        },
        "lane_pattern": LANE_PATTERN,
        "max_clearance_ms": int(MAX_CLEARANCE.total_seconds() * 1000),
        "max_declared_weight_kg": MAX_DECLARED_WEIGHT_KG,
    }


def contract_json(ports: PortRegistry | None = None) -> str:
    return json.dumps(crossing_contract(ports), separators=(",", ":"), sort_keys=True)
