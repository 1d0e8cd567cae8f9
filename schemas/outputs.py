"""The job's output messages, one model per output topic: the one definition of each contract.

The Flink sinks' schemas (`pipeline/jobs/crossings.py`), the alert operator's columns, the
loader's columns and rows and the dispatcher's reading of an alert all come from these
models; a unit test checks each `sql/clickhouse/` table against its model. The clean topic
carries the crossing events themselves (`schemas.events`).

On the wire each message is a JSON object with these fields; times are ISO-8601 UTC text with
a 'Z' (STRING in Flink). `flink_type` gives each field's Flink SQL type.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Annotated, ClassVar, Literal, Union, get_args, get_origin
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, Strict
from pydantic.fields import FieldInfo

from schemas.enums import ChannelType, Direction, Kind
from schemas.events import UtcDatetime


@dataclass(frozen=True)
class FlinkType:
    """A field's Flink SQL type where its Python type does not say it (an INT, not a BIGINT)."""

    sql: str


# numbers are JSON numbers: "900" is no count
Count = Annotated[int, Strict()]
Int32 = Annotated[int, Strict(), FlinkType("INT")]
Seconds = Annotated[float, Strict()]


class OutputMessage(BaseModel):
    """A message of one output topic. `key`: the fields that key its records (an upsert topic's
    primary key, or the raw key of an append topic); `versioned`: its table keeps the Kafka
    offset as `version`, so the newest upsert of a key wins."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: ClassVar[tuple[str, ...]] = ()
    versioned: ClassVar[bool] = True


class ThroughputWindow(OutputMessage):
    """Crossings per 1-minute window, port, kind, direction and channel type (upserts)."""

    key: ClassVar = ("window_start", "port_code", "kind", "direction", "channel_type")

    window_start: UtcDatetime
    window_end: UtcDatetime
    port_code: str
    kind: Kind
    direction: Direction
    channel_type: ChannelType
    crossings: Count


class ClearanceWindow(OutputMessage):
    """Clearance figures over a 5-minute window sliding by a minute (upserts)."""

    key: ClassVar = ("window_start", "port_code", "kind", "direction")

    window_start: UtcDatetime
    window_end: UtcDatetime
    port_code: str
    kind: Kind
    direction: Direction
    crossings: Count
    mean_s: Seconds
    p50_s: Seconds
    p90_s: Seconds
    p99_s: Seconds
    max_s: Seconds


class PipelineCounts(OutputMessage):
    """Per source topic and minute of arrival: received = clean + dead letters + duplicates
    (upserts)."""

    key: ClassVar = ("received_minute", "topic")

    received_minute: UtcDatetime
    topic: str
    received: Count
    clean: Count
    dead_letters: Count
    duplicates: Count
    too_late: Count


class Alert(OutputMessage):
    """One state of an episode: `raised` once, `resolved` once. A `clearance` episode is a
    spike of the measured p90 (severity warning or critical); a `forecast` episode is an early
    warning on the 30-minute forecast (severity early-warning, `peak_p90_s` the highest
    forecast), with the diversion advice where the port has peers for its kind: the peer with
    the lowest forecast, that forecast and how many minutes less it is (null otherwise)."""

    key: ClassVar = ("episode_id",)

    episode_id: UUID
    state: Literal["raised", "resolved"]
    severity: Literal["warning", "critical", "early-warning"]
    port_code: str
    kind: Kind
    direction: Direction
    started_at: UtcDatetime
    ended_at: UtcDatetime | None
    peak_p90_s: Seconds
    threshold_s: Int32
    episode_type: Literal["clearance", "forecast"] = "clearance"
    advice_port_code: str | None = None
    advice_forecast_s: Seconds | None = None
    advice_difference_min: Seconds | None = None


class ClearanceForecast(OutputMessage):
    """The p90 clearance expected `horizon_min` minutes after `issued_at` (the forecast for the
    5-minute window ending at `target_at`), and what the model saw (upserts)."""

    key: ClassVar = ("issued_at", "port_code", "kind", "direction", "horizon_min")

    issued_at: UtcDatetime
    port_code: str
    kind: Kind
    direction: Direction
    horizon_min: Int32
    target_at: UtcDatetime
    p90_s: Seconds
    usual_p90_s: Seconds  # the profile's p90 at target_at's minute of day
    queue: Seconds  # subjects queued beyond the usual
    capacity_per_min: Seconds
    arrival_ratio: Seconds


def _no_payload(value: object) -> object:
    return "" if value is None else value


class DeadLetter(OutputMessage):
    """A raw record that failed validation: why, where it came from, and its payload without
    clear identifiers (null on the wire, '' in the table, for a record that is not a JSON
    object)."""

    versioned: ClassVar = False

    reason: str
    topic: str
    partition: Int32
    offset: Count
    payload: Annotated[str, BeforeValidator(_no_payload)]
    detected_at: UtcDatetime


def flink_type(field: FieldInfo) -> str:
    """The Flink SQL type of a field of an output message."""
    for meta in field.metadata:
        if isinstance(meta, FlinkType):
            return meta.sql
    python_type = base_type(field.annotation)
    if python_type is bool:
        return "BOOLEAN"
    if python_type is int:
        return "BIGINT"
    if python_type is float:
        return "DOUBLE"
    return "STRING"  # text, enums, UUIDs and times (ISO-8601 text)


def is_optional(field: FieldInfo) -> bool:
    return NoneType in get_args(field.annotation)


def base_type(annotation: object) -> object:
    """The type of a field, unwrapped from `X | None` and `Annotated[X, ...]`."""
    if get_origin(annotation) in (Union, UnionType):
        (annotation,) = [arg for arg in get_args(annotation) if arg is not NoneType]
    if get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation
