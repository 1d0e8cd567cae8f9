"""What the crossings job must publish for a list of raw records, recomputed in plain Python
from the same records (no Flink, no SQL): the reference of the job tests and of `make chaos`.

The rules are the job's (`pipeline/transforms/`): a record is a dead letter when the reference
models reject it or its `released_at` is more than the skew tolerance ahead of `now`; a valid
`event_id` seen before is a duplicate; a clean event more than out-of-orderness plus allowed
lateness behind the latest plausible event time of its stream (raw topic and port) is too
late and updates no window.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
from confluent_kafka import Producer
from pydantic import ValidationError

from pipeline.jobs.settings import PipelineSettings
from schemas.events import Crossing, parse_crossing, raw_topic

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RawRecord:
    topic: str
    key: bytes
    value: bytes


@dataclass
class Expected:
    """What the job must publish for a list of raw records."""

    received: int = 0
    clean_ids: set[str] = field(default_factory=set)
    clean_per_group: Counter = field(default_factory=Counter)  # (port, kind, direction) -> clean events
    dead_letter_classes: Counter = field(default_factory=Counter)
    duplicates: int = 0
    too_late: int = 0
    throughput: dict[tuple, int] = field(default_factory=dict)
    clearance: dict[tuple, tuple] = field(default_factory=dict)


def millis(at: datetime) -> int:
    """Event times count at millisecond precision (the job's TIMESTAMP(3))."""
    return (at - EPOCH) // timedelta(milliseconds=1)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def percentile(ordered: list[float], p: float) -> float:
    """Exact percentile with linear interpolation between closest ranks."""
    position = p * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (position - low) * (ordered[high] - ordered[low])


def record_of(event: Crossing) -> RawRecord:
    return RawRecord(raw_topic(event.kind), event.port_code.encode(), event.to_json())


def plausible_release_ms(record: RawRecord, now: datetime, skew_tolerance_s: int) -> tuple[str | None, int] | None:
    """(port_code, released_at) of a record whose released_at parses and is not ahead of the
    skew tolerance, valid or not: such records move their stream's event time."""
    try:
        data = orjson.loads(record.value)
        released = datetime.fromisoformat(data["released_at"].replace("Z", "+00:00"))
    except (orjson.JSONDecodeError, TypeError, KeyError, AttributeError, ValueError):
        return None
    if released > now + timedelta(seconds=skew_tolerance_s):
        return None
    return data.get("port_code"), millis(released)


def recompute(records: list[RawRecord], now: datetime, settings: PipelineSettings | None = None) -> Expected:
    """The job's results for `records` in send order, processed at `now` (the clock-skew rule)."""
    settings = settings or PipelineSettings()
    skew = timedelta(seconds=settings.skew_tolerance_s)
    behind_ms = (settings.out_of_orderness_s + settings.allowed_lateness_s) * 1000
    expected = Expected(received=len(records))
    stream_max: dict[tuple[str, str], int] = {}
    seen: set[str] = set()
    on_time: list[Crossing] = []
    for record in records:
        if (moved := plausible_release_ms(record, now, settings.skew_tolerance_s)) is not None:
            stream = (record.topic, moved[0])
            stream_max[stream] = max(stream_max.get(stream, moved[1]), moved[1])
        try:
            event = parse_crossing(record.value)
            if event.released_at > now + skew:
                raise ValueError("clock-skew")
        except (ValidationError, ValueError) as error:
            expected.dead_letter_classes[dead_letter_class(record, error)] += 1
            continue
        if str(event.event_id) in seen:
            expected.duplicates += 1
            continue
        seen.add(str(event.event_id))
        expected.clean_ids.add(str(event.event_id))
        expected.clean_per_group[(event.port_code, event.kind.value, event.direction.value)] += 1
        if millis(event.released_at) < stream_max[(record.topic, event.port_code)] - behind_ms:
            expected.too_late += 1
        else:
            on_time.append(event)
    expected.throughput, expected.clearance = windows(on_time)
    return expected


def windows(on_time: list[Crossing]) -> tuple[dict[tuple, int], dict[tuple, tuple]]:
    """1-minute throughput per (window start, port, kind, direction, channel type), and
    (crossings, mean, p50, p90, p99, max) clearance per 5-minute window sliding by a minute
    (window start, port, kind, direction)."""
    throughput: Counter = Counter()
    samples: dict[tuple, list[float]] = defaultdict(list)
    for event in on_time:
        minute = millis(event.released_at) // 60_000 * 60_000
        dims = (event.port_code, event.kind.value, event.direction.value)
        throughput[(iso(minute), *dims, event.channel_type.value)] += 1
        seconds = (millis(event.released_at) - millis(event.queued_at)) / 1000
        for back in range(5):
            samples[(iso(minute - back * 60_000), *dims)].append(seconds)
    clearance = {}
    for key, values in samples.items():
        values.sort()
        clearance[key] = (
            len(values),
            sum(values) / len(values),
            percentile(values, 0.5),
            percentile(values, 0.9),
            percentile(values, 0.99),
            values[-1],
        )
    return dict(throughput), clearance


def dead_letter_class(record: RawRecord, error: Exception) -> str:
    """The reason class the job must give, from the reference models' verdict."""
    if isinstance(error, ValueError) and not isinstance(error, ValidationError):
        return "clock-skew"
    try:
        data = orjson.loads(record.value)
    except orjson.JSONDecodeError:
        return "malformed-json"
    if not isinstance(data, dict):
        return "malformed-json"
    first = error.errors()[0]
    message = first["msg"]
    if first["type"] == "missing":
        return "missing-field"
    if first["type"] == "extra_forbidden":
        return "unknown-field"
    if "is not in the port registry" in message:
        return "unknown-port"
    if "does not clear" in message:
        return "kind-not-cleared"
    if "is before" in message:
        return "timestamps-out-of-order"
    if "more than the" in message:
        return "clearance-over-24h"
    return "invalid-field"


def produce(
    bootstrap: str,
    records: list[RawRecord],
    per_second: float | None = None,
    sent: list[int] | None = None,
    quiet: bool = False,
) -> None:
    """Send in order, keyed by port (one partition per port and topic), idempotently; at most
    `per_second` records a second if given. `sent[0]` counts the records handed over so far;
    `quiet`: no librdkafka log lines (a broker down on purpose), undelivered records still fail."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 20,
            **({"log_level": 0} if quiet else {}),
        }
    )
    started = time.monotonic()
    try:
        for index, record in enumerate(records):
            if per_second is not None:
                time.sleep(max(0.0, started + index / per_second - time.monotonic()))
            while True:
                try:
                    producer.produce(record.topic, record.value, record.key)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
            if sent is not None:
                sent[0] = index + 1
    finally:
        remaining = producer.flush(120)
    if remaining:
        raise RuntimeError(f"{remaining} of {len(records)} raw records not delivered to {bootstrap}")
