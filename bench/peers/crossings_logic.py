"""The job's per-record rules and window figures in plain Python, for the Quix Streams peer.

The peer runs in a virtualenv of its own (`.cache/venv-quix`: quixstreams pins older
confluent-kafka and pydantic than ours), so this module imports neither pydantic nor our
packages: the standard library only, and `schemas/ports.toml` read with tomllib. It ports the
rules of the job's parser (`schemas/contract.py`, pipeline/jvm) in their order;
`tests/unit/bench/test_peer.py` holds its verdicts equal to the pipeline's and its window keys
and percentiles equal to the job's.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

PORTS_TOML = Path(__file__).resolve().parents[2] / "schemas" / "ports.toml"
SCHEMA_VERSION = "1"
MAX_CLEARANCE_MS = 24 * 3600 * 1000
MAX_DECLARED_WEIGHT_KG = 60_000
KINDS = ("traveller", "driver", "truck")
RAW_TOPICS = tuple(f"crossings.raw.{kind}" for kind in KINDS)
COMMON_FIELDS = (
    "event_id",
    "schema_version",
    "port_code",
    "direction",
    "lane_id",
    "channel_type",
    "queued_at",
    "inspection_started_at",
    "released_at",
    "inspection_mode",
    "subject_ref",
)
KIND_FIELDS = {
    "traveller": ("category", "document_type"),
    "driver": ("vehicle_ref", "health_check"),
    "truck": ("plate_ref", "cargo_type", "declared_weight_kg", "customs_decision"),
}
ENUMS = {
    "direction": {"entry", "exit"},
    "channel_type": {"e-channel", "manual-counter", "vehicle-lane", "freight-lane"},
    "inspection_mode": {"two-site", "co-location", "joint-one-release"},
    "category": {"hk-macao-resident", "mainland-resident", "foreign"},
    "document_type": {"home-return-permit", "exit-entry-permit", "passport", "other"},
    "health_check": {"passed", "referred"},
    "cargo_type": {"general", "cold-chain", "dangerous-goods", "parcels", "empty"},
    "customs_decision": {"released", "inspected-released", "held"},
}
CHANNELS_BY_KIND = {"traveller": {"e-channel", "manual-counter"}, "driver": {"vehicle-lane"}, "truck": {"freight-lane"}}
REFS = ("subject_ref", "vehicle_ref", "plate_ref")
TIMESTAMPS = ("queued_at", "inspection_started_at", "released_at")
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
REF_RE = re.compile(r"[0-9a-f]{32}")
LANE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
TIMESTAMP_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z")
NUMBER_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@cache
def port_registry(path: Path = PORTS_TOML) -> dict[str, tuple[frozenset[str], str]]:
    """Port code -> (kinds it clears, inspection mode), from the registry file."""
    with path.open("rb") as file:
        ports = tomllib.load(file)["ports"]
    return {code: (frozenset(port["kinds"]), port["inspection_mode"]) for code, port in ports.items()}


def as_text(value: Any) -> str | None:
    """A parsed JSON value as text for the value rules: strings unquoted, anything else
    as JSON text; None (JSON null) is an absent field."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def parse_time(text: str) -> datetime | None:
    """An ISO-8601 UTC text ('...Z') at microsecond precision, None when it does not parse."""
    match = TIMESTAMP_RE.fullmatch(text)
    if match is None:
        return None
    *parts, fraction = match.groups()
    try:
        return datetime(*map(int, parts), int((fraction or "0").ljust(6, "0")[:6]), tzinfo=UTC)
    except ValueError:
        return None


def millis(at: datetime) -> int:
    """Event times count at millisecond precision (the job's TIMESTAMP(3))."""
    return (at - EPOCH) // timedelta(milliseconds=1)


def reason_class(payload: Any, now: datetime, skew_tolerance_s: int) -> str | None:
    """The class of the first rule `payload` (the parsed JSON) breaks, None when valid."""
    if not isinstance(payload, dict):
        return "malformed-json"
    fields = {name: as_text(value) for name, value in payload.items()}
    kind = fields.get("kind")
    if kind is None:
        return "missing-field"
    if kind not in KINDS:
        return "invalid-field"
    known = (*COMMON_FIELDS, *KIND_FIELDS[kind])
    if any(fields.get(name) is None for name in known):
        return "missing-field"
    if any(not json_type_fits(name, payload[name]) for name in known) or broken_field(fields):
        return "invalid-field"
    if set(payload) - {"kind", *known}:
        return "unknown-field"
    if fields["channel_type"] not in CHANNELS_BY_KIND[kind]:
        return "invalid-field"
    ports = port_registry()
    port = fields["port_code"]
    if port not in ports:
        return "unknown-port"
    kinds, mode = ports[port]
    if kind not in kinds:
        return "kind-not-cleared"
    if fields["inspection_mode"] != mode:
        return "invalid-field"
    queued, started, released = (parse_time(fields[name]) for name in TIMESTAMPS)
    if started < queued or released < started:
        return "timestamps-out-of-order"
    if released - queued > timedelta(milliseconds=MAX_CLEARANCE_MS):
        return "clearance-over-24h"
    if millis(released) > millis(now) + skew_tolerance_s * 1000:
        return "clock-skew"
    return None


def broken_field(fields: dict[str, str | None]) -> bool:
    """Whether a present field has a value out of its domain (the job's value rules)."""

    def present(name: str) -> str | None:
        return fields.get(name)

    checks = [
        ("event_id", lambda v: not UUID_RE.fullmatch(v)),
        ("schema_version", lambda v: v != SCHEMA_VERSION),
        ("lane_id", lambda v: not LANE_RE.fullmatch(v)),
        *((name, lambda v, values=values: v not in values) for name, values in ENUMS.items()),
        *((name, lambda v: not REF_RE.fullmatch(v)) for name in REFS),
        *((name, lambda v: parse_time(v) is None) for name in TIMESTAMPS),
        ("declared_weight_kg", lambda v: not NUMBER_RE.fullmatch(v) or not 0 < float(v) <= MAX_DECLARED_WEIGHT_KG),
    ]
    return any(present(name) is not None and broken(present(name)) for name, broken in checks)


def json_type_fits(name: str, value: Any) -> bool:
    """The JSON type the models take for a field (strict: no number as text, no bool as number)."""
    if name == "schema_version":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "declared_weight_kg":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, str)


def released_ms(payload: dict) -> int:
    """The event time of a valid event: its released_at in epoch milliseconds."""
    return millis(parse_time(payload["released_at"]))


def clearance_s(payload: dict) -> float:
    """Seconds from queued to released, at millisecond precision as the job computes it."""
    return (released_ms(payload) - millis(parse_time(payload["queued_at"]))) / 1000


def iso(ms: int) -> str:
    """A window bound as the job writes it."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def throughput_key(payload: dict) -> str:
    """The dimensions of the job's 1-minute throughput windows."""
    return "/".join(payload[name] for name in ("port_code", "kind", "direction", "channel_type"))


def clearance_key(payload: dict) -> str:
    """The dimensions of the job's 5-minute clearance windows."""
    return "/".join(payload[name] for name in ("port_code", "kind", "direction"))


def percentile(ordered: list[float], p: float) -> float:
    """Exact percentile with linear interpolation between closest ranks (Flink's PERCENTILE)."""
    position = p * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def clearance_figures(values: list[float]) -> dict[str, float]:
    """The job's clearance columns for one window's clearance seconds."""
    ordered = sorted(values)
    return {
        "crossings": len(ordered),
        "mean_s": sum(ordered) / len(ordered),
        "p50_s": percentile(ordered, 0.5),
        "p90_s": percentile(ordered, 0.9),
        "p99_s": percentile(ordered, 0.99),
        "max_s": ordered[-1],
    }
