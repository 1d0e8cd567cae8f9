"""Validation of raw records in Flink SQL, derived from the event models and the port registry.

Input: the raw table (`payload`, `topic`, `partition`, `offset`, `received_at`, plus whatever
else it carries). Output: the same rows with `reason` (NULL when valid, else
`<class>: <detail>` for the first rule broken) and the typed columns later stages need.
The rules mirror `schemas.events` (enums, refs, ordered timestamps, clearance <= 24 h, the port
clears the kind) plus the clock-skew rule, which only the pipeline can apply.
"""

from __future__ import annotations

from pyflink.table import Table, TableEnvironment

from pipeline.transforms.sql import epoch_ms, literal, one_of, plus_seconds
from schemas.events import (
    CHANNELS_BY_KIND,
    MAX_CLEARANCE,
    MAX_DECLARED_WEIGHT_KG,
    SCHEMA_VERSION,
    CargoType,
    ChannelType,
    CustomsDecision,
    Direction,
    DocumentType,
    HealthCheck,
    InspectionMode,
    Kind,
    TravellerCategory,
    CrossingBase,
    DriverCrossing,
    TravellerCrossing,
    TruckCrossing,
)
from schemas.ports import PortRegistry, load_ports

REASON_CLASSES = (
    "malformed-json", "missing-field", "invalid-field", "unknown-port", "kind-not-cleared",
    "timestamps-out-of-order", "clearance-over-24h", "clock-skew",
)
UUID_RE = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
REF_RE = "^[0-9a-f]{32}$"
LANE_RE = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
TIMESTAMP_RE = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{1,9})?Z$"
NUMBER_RE = "^-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?$"
TIMESTAMPS = ("queued_at", "inspection_started_at", "released_at")
ENUMS = {
    "direction": Direction, "channel_type": ChannelType, "inspection_mode": InspectionMode,
    "category": TravellerCategory, "document_type": DocumentType, "health_check": HealthCheck,
    "cargo_type": CargoType, "customs_decision": CustomsDecision,
}
REFS = ("subject_ref", "vehicle_ref", "plate_ref")
MODELS = {Kind.TRAVELLER: TravellerCrossing, Kind.DRIVER: DriverCrossing, Kind.TRUCK: TruckCrossing}
COMMON_FIELDS = [name for name in CrossingBase.model_fields if name != "kind"]


FIELDS = sorted({*CrossingBase.model_fields, *(f for m in MODELS.values() for f in m.model_fields)})


def field(name: str) -> str:
    """The column holding a payload field's text, extracted once per record (NULL if absent)."""
    return f"j_{name}"


def pair(first: str, second: str) -> str:
    return f"CONCAT({first}, '/', {second})"


def timestamp_from_text(text: str, precision: int = 6) -> str:
    """An ISO-8601 UTC text ('...Z') as TIMESTAMP, NULL when it does not parse."""
    return f"TRY_CAST(REPLACE(REPLACE({text}, 'T', ' '), 'Z', '') AS TIMESTAMP({precision}))"


def parsed_timestamp(name: str, precision: int = 6) -> str:
    return timestamp_from_text(field(name), precision)


def _rules(ports: PortRegistry, skew_tolerance_s: int) -> list[tuple[str, str]]:
    """(broken when, reason) in the order they are checked; the first broken one is reported."""
    kind = field("kind")
    rules = [
        ("fields IS NULL", "'malformed-json: not a JSON object'"),
        (f"{kind} IS NULL", "'missing-field: kind'"),
        (f"NOT {one_of(kind, Kind)}", f"CONCAT('invalid-field: kind ', {kind})"),
    ]
    rules += [(f"{field(name)} IS NULL", literal(f"missing-field: {name}")) for name in COMMON_FIELDS]
    for k, model in MODELS.items():
        rules += [
            (f"{kind} = {literal(k)} AND {field(name)} IS NULL", literal(f"missing-field: {name}"))
            for name in model.model_fields if name not in CrossingBase.model_fields
        ]

    def invalid(name: str, broken: str, why: str) -> tuple[str, str]:
        return (f"{field(name)} IS NOT NULL AND ({broken})",
                f"CONCAT('invalid-field: {name} ', {field(name)}, ' {why}')")

    rules += [
        invalid("event_id", f"NOT REGEXP({field('event_id')}, '{UUID_RE}')", "is not a UUID"),
        invalid("schema_version", f"{field('schema_version')} <> '{SCHEMA_VERSION}'",
                f"is not a supported schema_version ({SCHEMA_VERSION})"),
        invalid("lane_id", f"NOT REGEXP({field('lane_id')}, '{LANE_RE}')", "is not a lane id"),
    ]
    rules += [invalid(name, f"NOT {one_of(field(name), enum)}", "is not a known value")
              for name, enum in ENUMS.items()]
    rules += [invalid(name, f"NOT REGEXP({field(name)}, '{REF_RE}')", "is not a ref (32 hex)")
              for name in REFS]
    rules += [invalid(name, f"NOT REGEXP({field(name)}, '{TIMESTAMP_RE}') OR {parsed_timestamp(name)} IS NULL",
                      "is not an ISO-8601 UTC time ending in Z")
              for name in TIMESTAMPS]
    weight = f"TRY_CAST({field('declared_weight_kg')} AS DOUBLE)"
    rules.append(invalid(
        "declared_weight_kg",
        f"NOT REGEXP({field('declared_weight_kg')}, '{NUMBER_RE}') OR {weight} <= 0 "
        f"OR {weight} > {MAX_DECLARED_WEIGHT_KG}",
        f"is not a weight in (0, {MAX_DECLARED_WEIGHT_KG}] kg",
    ))
    channel_pairs = [f"{k}/{c}" for k, channels in CHANNELS_BY_KIND.items() for c in channels]
    rules.append((f"NOT {one_of(pair(kind, field('channel_type')), channel_pairs)}",
                  f"CONCAT('invalid-field: channel_type ', {field('channel_type')}, ' is not used by ', {kind}, ' crossings')"))
    port = field("port_code")
    rules.append((f"NOT {one_of(port, ports.codes)}",
                  f"CONCAT('unknown-port: ', {port}, ' is not in the port registry')"))
    cleared = [f"{p.code}/{k}" for p in ports for k in p.kinds]
    rules.append((f"NOT {one_of(pair(port, kind), cleared)}",
                  f"CONCAT('kind-not-cleared: ', {port}, ' does not clear ', {kind}, ' crossings')"))
    modes = [f"{p.code}/{p.inspection_mode}" for p in ports]
    rules.append((f"NOT {one_of(pair(port, field('inspection_mode')), modes)}",
                  f"CONCAT('invalid-field: inspection_mode ', {field('inspection_mode')}, ' is not the mode of ', {port})"))
    queued, started, released = (parsed_timestamp(name) for name in TIMESTAMPS)
    rules += [
        (f"{started} < {queued}", "'timestamps-out-of-order: inspection_started_at is before queued_at'"),
        (f"{released} < {started}", "'timestamps-out-of-order: released_at is before inspection_started_at'"),
        (f"{released} > {plus_seconds(queued, int(MAX_CLEARANCE.total_seconds()))}",
         "'clearance-over-24h: released_at - queued_at is more than 24 h'"),
        (f"{parsed_timestamp('released_at', 3)} > {plus_seconds('CAST(received_at AS TIMESTAMP(3))', skew_tolerance_s)}",
         f"'clock-skew: released_at is more than {skew_tolerance_s} s ahead of processing time'"),
    ]
    return rules


def reason_expression(ports: PortRegistry, skew_tolerance_s: int) -> str:
    cases = "\n".join(f"    WHEN {broken} THEN {reason}" for broken, reason in _rules(ports, skew_tolerance_s))
    return f"CASE\n{cases}\n    ELSE CAST(NULL AS STRING)\n  END"


def extract(env: TableEnvironment, raw: Table) -> Table:
    """The raw rows with `fields`: the payload's top-level fields as text (NULL if the payload
    is not a JSON object), parsed once per record by JSON_FIELDS (`register_functions`).
    Materialise this (the lateness stage does) before `validate`: the planner inlines a
    column's expression into every rule that reads it."""
    return env.sql_query(f"SELECT *, JSON_FIELDS(payload) AS fields FROM {raw}")


def validate(env: TableEnvironment, extracted: Table, skew_tolerance_s: int,
             ports: PortRegistry | None = None) -> Table:
    """Every extracted row (without `fields`) with its `reason` (NULL = valid) and typed
    columns for the valid ones."""
    released = parsed_timestamp("released_at", 3)
    queued = parsed_timestamp("queued_at", 3)
    passed_on = ", ".join(f"`{name}`" for name in extracted.get_schema().get_field_names() if name != "fields")
    columns = ", ".join(f"fields['{name}'] AS {field(name)}" for name in FIELDS)
    return env.sql_query(f"""
        SELECT {passed_on},
          {reason_expression(ports or load_ports(), skew_tolerance_s)} AS reason,
          {field('event_id')} AS event_id,
          {field('kind')} AS kind,
          {field('port_code')} AS port_code,
          {field('direction')} AS direction,
          {field('channel_type')} AS channel_type,
          {field('inspection_mode')} AS inspection_mode,
          CAST(({epoch_ms(released)} - {epoch_ms(queued)}) AS DOUBLE) / 1000 AS clearance_s
        FROM (SELECT *, {columns} FROM {extracted})""")
