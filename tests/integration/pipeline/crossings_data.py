"""Input for the crossings-job tests; the results the job must give for it are recomputed in
plain Python from the same records by `bench.chaos.expected` (no Flink, no SQL).

The input is a simulated day sent with some events delayed on their stream (late, or too
late), some sent twice, one invalid record per class, then a scripted clearance surge and
noise near the threshold on a quiet day.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta

import orjson
from pydantic import SecretStr

from bench.chaos.expected import Expected, RawRecord, produce, recompute, record_of
from connectors.sources.simulator import SimulatorSource
from schemas.events import Crossing, raw_topic
from schemas.ports import SHENZHEN_TZ, load_ports
from schemas.privacy import Pseudonymiser

__all__ = [
    "ALERT_KIND",
    "ALERT_PORT",
    "CLEAR_IDENTIFIER",
    "NOISE_DIRECTION",
    "SURGE_DIRECTION",
    "Expected",
    "RawRecord",
    "crossings_records",
    "produce",
    "recompute",
    "record_of",
    "simulated_day",
]

SIM_DAY = date(2024, 5, 1)
ALERT_DAY = date(2024, 5, 2)
ALERT_PORT, ALERT_KIND = "SHENZHEN_BAY", "traveller"
SURGE_DIRECTION, NOISE_DIRECTION = "entry", "exit"


def simulated_day(scale: float, seed: int, day: date = SIM_DAY) -> list[Crossing]:
    start = datetime.combine(day, time(0), SHENZHEN_TZ)
    source = SimulatorSource(start, 24, seed=seed, scale=scale, pseudonymiser=Pseudonymiser(SecretStr("test")))
    return list(source.events())


def send_order(events: list[Crossing], rng: random.Random) -> tuple[list[Crossing], int, int]:
    """The events in the order they are sent: by release, except ~2 % held back 2-8 minutes on
    their stream (late, within the allowed lateness) and ~0.5 % held back 20-60 minutes
    (too late). Returns the order and how many of each were held back."""
    keyed = []
    late = too_late = 0
    for event in events:
        delay = 0.0
        draw = rng.random()
        if draw < 0.005:
            delay, too_late = rng.uniform(1200, 3600), too_late + 1
        elif draw < 0.025:
            delay, late = rng.uniform(120, 480), late + 1
        keyed.append((event.released_at.timestamp() + delay, event))
    keyed.sort(key=lambda pair: pair[0])
    return [event for _, event in keyed], late, too_late


CLEAR_IDENTIFIER = "P12345678"  # a passport number where only refs may stand


def invalid_records(traveller: Crossing, truck: Crossing, now: datetime) -> list[RawRecord]:
    """One record per class of invalid input (two malformed, JSON types that the models do not
    take, a clear identifier in a ref and in a field the models do not have), each with its
    own event_id."""
    base = orjson.loads(traveller.to_json())
    topic, key = raw_topic(traveller.kind), traveller.port_code.encode()

    def variant(**changes) -> RawRecord:
        data = {**base, "event_id": str(uuid.uuid4()), **changes}
        return RawRecord(topic, key, orjson.dumps({k: v for k, v in data.items() if v is not None}))

    queued = traveller.queued_at
    future = now + timedelta(hours=1)
    not_cleared = {**orjson.loads(truck.to_json()), "event_id": str(uuid.uuid4()), "port_code": "LUOHU"}
    weight_as_text = {**orjson.loads(truck.to_json()), "event_id": str(uuid.uuid4()), "declared_weight_kg": "900"}
    return [
        RawRecord(topic, key, b'{"event_id": "not closed"'),
        RawRecord(topic, key, b"[1, 2, 3]"),
        variant(subject_ref=None),
        variant(direction="sideways"),
        variant(schema_version="1"),
        RawRecord(raw_topic(truck.kind), truck.port_code.encode(), orjson.dumps(weight_as_text)),
        variant(subject_ref=CLEAR_IDENTIFIER),
        variant(passport_no=CLEAR_IDENTIFIER),
        variant(port_code="HONG_KONG_ISLAND"),
        RawRecord(raw_topic(truck.kind), b"LUOHU", orjson.dumps(not_cleared)),
        variant(inspection_started_at=_z(queued - timedelta(minutes=5))),
        variant(queued_at=_z(queued - timedelta(hours=30)), inspection_started_at=_z(queued - timedelta(hours=29))),
        variant(queued_at=_z(future - timedelta(minutes=10)), inspection_started_at=_z(future), released_at=_z(future)),
    ]


def _z(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def noise_slow_counts() -> list[int]:
    """Slow crossings (above the threshold) among the 20 of each minute on the noisy direction.

    2 a minute puts 10 of the 100 in a 5-minute window above the threshold: p90 just below it.
    One more in a minute and one fewer in the next lifts a single slide above it; +1, +1, -2
    lifts two in a row. Never three, so no episode may open."""
    counts = [2] * 60
    for minute in (10, 30):
        counts[minute], counts[minute + 1] = 3, 1
    for minute in (20, 40, 50):
        counts[minute], counts[minute + 1], counts[minute + 2] = 3, 3, 0
    return counts


def surge_and_noise(template: Crossing, rng: random.Random) -> list[Crossing]:
    """A quiet hour at the alert port: a clearance surge on one direction (normal, then three
    times the threshold for 10 minutes, then normal), and noise around the threshold on the
    other (`noise_slow_counts`), 20 crossings a minute each."""
    threshold = load_ports().get(ALERT_PORT).clearance_threshold_s[ALERT_KIND]
    start = datetime.combine(ALERT_DAY, time(10), SHENZHEN_TZ).astimezone(UTC)
    events = []
    for minute, slow in enumerate(noise_slow_counts()):
        surging = 15 <= minute < 25
        slow_ones = set(rng.sample(range(20), slow))
        for index in range(20):
            released = start + timedelta(minutes=minute, seconds=rng.uniform(0, 59.9))
            surge_s = threshold * (3 if surging else 0.3) * rng.uniform(0.9, 1.1)
            noise_s = threshold * (rng.uniform(1.05, 1.4) if index in slow_ones else rng.uniform(0.5, 0.9))
            for direction, seconds in ((SURGE_DIRECTION, surge_s), (NOISE_DIRECTION, noise_s)):
                queued = released - timedelta(seconds=seconds)
                events.append(
                    template.model_copy(
                        update={
                            "event_id": uuid.UUID(int=rng.getrandbits(128), version=4),
                            "direction": direction,
                            "queued_at": queued,
                            "inspection_started_at": queued + timedelta(seconds=seconds * 0.9),
                            "released_at": released,
                        }
                    )
                )
    events.sort(key=lambda event: event.released_at)
    return events


def crossings_records(scale: float = 0.01, seed: int = 7, now: datetime | None = None) -> list[RawRecord]:
    """The whole input of a job test, in send order."""
    now = now or datetime.now(UTC)
    rng = random.Random(seed)
    day = simulated_day(scale, seed)
    ordered, _, _ = send_order(day, rng)
    records = [record_of(event) for event in ordered]
    for index in sorted(rng.sample(range(len(records)), len(records) // 100), reverse=True):
        records.insert(min(len(records), index + rng.randint(1, 500)), records[index])
    template = next(e for e in day if e.port_code == ALERT_PORT and e.kind.value == ALERT_KIND)
    truck = next(e for e in day if e.kind.value == "truck")
    records += invalid_records(template, truck, now)
    records += [record_of(event) for event in surge_and_noise(template, rng)]
    return records
