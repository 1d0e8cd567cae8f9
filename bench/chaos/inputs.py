"""The chaos suite's input: live simulated crossings made dirty the way port systems are.

A busy half hour of a simulated day (09:00 Shenzhen) is moved to end `LEAD` before now, so
the job's clock-skew rule (released_at at most the skew tolerance ahead of processing time)
applies as in production. Then, in send order:

- one port's clock runs an hour ahead (`SKEWED_PORT`): its events lie 20-50 minutes in the
  future, beyond the tolerance, and become `clock-skew` dead letters;
- 10 % of the events are sent up to 5 minutes late on their stream (late, within the allowed
  lateness), 0.1 % 12-20 minutes late (beyond it: too late);
- 1 % of the events come with a poison record (one defect each, any dead-letter class but
  clock-skew, each defect at least once), sent along with them: among them wrong JSON types,
  an extra field and clear identifiers (`CLEAR_IDENTIFIERS`, which no output may hold);
- 5 % of the records are sent a second time, up to 500 records later.
Each share is rounded, and is at least one record.

Every figure the job must publish follows from the records by `expected.recompute`.
"""

from __future__ import annotations

import os
import random
import uuid
from datetime import UTC, date, datetime, time, timedelta

import orjson
from pydantic import SecretStr

from bench.chaos.expected import RawRecord, record_of
from connectors.sources.simulator import SimulatorSource
from schemas.events import Crossing, raw_topic
from schemas.ports import SHENZHEN_TZ
from schemas.privacy import Pseudonymiser

SIM_START = datetime.combine(date(2024, 5, 1), time(9), SHENZHEN_TZ)
SPAN = timedelta(minutes=30)
LEAD = timedelta(minutes=10)
SKEWED_PORT, SKEW = "HUANGGANG", timedelta(hours=1)
LATE_SHARE, LATE_MAX_S = 0.10, 300
TOO_LATE_SHARE, TOO_LATE_S = 0.001, (720, 1200)
POISON_SHARE, DUPLICATE_SHARE, DUPLICATE_MAX_GAP = 0.01, 0.05, 500
PILOT_SCALE = 0.02
# a passport number where a ref belongs, and one in a field the models do not have
CLEAR_IDENTIFIERS = ("E12345678", "K98765432")
DEFECTS = (
    "clear-identifier",
    "clearance-over-24h",
    "extra-field",
    "invalid-field",
    "kind-not-cleared",
    "malformed-json",
    "missing-field",
    "not-an-object",
    "timestamps-out-of-order",
    "unknown-port",
    "wrong-json-type",
)


def live_events(events: int, seed: int, now: datetime) -> list[Crossing]:
    """`events` crossings (fewer if the half hour holds fewer) released within `SPAN`, the
    last `LEAD` before `now`, in release order; a seed fixes them up to the move in time."""
    pilot = len(_half_hour(PILOT_SCALE, seed))
    simulated = _half_hour(PILOT_SCALE * 1.2 * events / max(pilot, 1), seed)
    rng = random.Random(seed)
    kept = sorted(rng.sample(range(len(simulated)), min(events, len(simulated))))
    shift = now - LEAD - SPAN - SIM_START
    return [_moved(simulated[index], shift) for index in kept]


def _half_hour(scale: float, seed: int) -> list[Crossing]:
    source = SimulatorSource(
        SIM_START,
        SPAN.total_seconds() / 3600,
        seed=seed,
        scale=scale,
        pseudonymiser=Pseudonymiser(SecretStr(os.urandom(16).hex())),
    )
    return [event for event in source.events() if event.released_at < SIM_START + SPAN]


def _moved(event: Crossing, shift: timedelta) -> Crossing:
    return event.model_copy(
        update={name: getattr(event, name) + shift for name in ("queued_at", "inspection_started_at", "released_at")}
    )


def dirty_records(events: list[Crossing], seed: int) -> list[RawRecord]:
    """The raw records of `events` in send order, made dirty as the module says (each share
    rounded, at least one of each kind of dirt)."""
    rng = random.Random(seed)
    too_late = set(rng.sample(_too_late_candidates(events), _share(len(events), TOO_LATE_SHARE)))
    late = set(rng.sample([i for i in range(len(events)) if i not in too_late], _share(len(events), LATE_SHARE)))
    poisoned = rng.sample(range(len(events)), max(len(DEFECTS), _share(len(events), POISON_SHARE)))
    defect_of = {index: DEFECTS[n] if n < len(DEFECTS) else rng.choice(DEFECTS) for n, index in enumerate(poisoned)}
    keyed = []
    for index, event in enumerate(events):
        delay = rng.uniform(*TOO_LATE_S) if index in too_late else rng.uniform(1, LATE_MAX_S) if index in late else 0.0
        sent = event.released_at.timestamp() + delay
        if event.port_code == SKEWED_PORT:  # sent on time, stamped by a clock an hour ahead
            event = _moved(event, SKEW)
        keyed.append((sent, record_of(event)))
        if index in defect_of:  # sent when its event is: its released_at moves the stream as usual
            keyed.append((sent, poison(event, defect_of[index])))
    keyed.sort(key=lambda pair: pair[0])
    records = [record for _, record in keyed]
    for index in sorted(rng.sample(range(len(records)), _share(len(records), DUPLICATE_SHARE)), reverse=True):
        records.insert(min(len(records), index + rng.randint(1, DUPLICATE_MAX_GAP)), records[index])
    return records


def _share(count: int, share: float) -> int:
    return max(1, round(count * share))


def _too_late_candidates(events: list[Crossing]) -> list[int]:
    """Events whose stream (kind and port; not the skewed port) goes on for longer than the
    longest hold-back after them: held back, they arrive beyond the allowed lateness."""
    last: dict[tuple, datetime] = {}
    for event in events:
        last[(event.kind, event.port_code)] = max(
            event.released_at, last.get((event.kind, event.port_code), event.released_at)
        )
    return [
        index
        for index, event in enumerate(events)
        if event.port_code != SKEWED_PORT
        and last[(event.kind, event.port_code)] - event.released_at > timedelta(seconds=TOO_LATE_S[1])
    ]


def poison(event: Crossing, defect: str) -> RawRecord:
    """A record of `event` (with an id of its own) broken in one way, `defect` (of DEFECTS)."""
    data = {**orjson.loads(event.to_json()), "event_id": str(uuid.uuid4())}
    topic, port = raw_topic(event.kind), event.port_code
    queued = event.queued_at
    defects = {
        "malformed-json": lambda: orjson.dumps(data)[:40],
        "not-an-object": lambda: orjson.dumps([data["event_id"], data["port_code"]]),
        "missing-field": lambda: orjson.dumps({k: v for k, v in data.items() if k != "subject_ref"}),
        "invalid-field": lambda: orjson.dumps({**data, "direction": "sideways"}),
        "unknown-port": lambda: orjson.dumps({**data, "port_code": "HONG_KONG_ISLAND"}),
        "kind-not-cleared": lambda: orjson.dumps({**data, "port_code": _not_clearing(event)}),
        "timestamps-out-of-order": lambda: orjson.dumps(
            {**data, "inspection_started_at": _z(queued - timedelta(minutes=5))}
        ),
        "clearance-over-24h": lambda: orjson.dumps(
            {
                **data,
                "queued_at": _z(queued - timedelta(hours=30)),
                "inspection_started_at": _z(queued - timedelta(hours=29)),
            }
        ),
        "wrong-json-type": lambda: orjson.dumps({**data, "schema_version": str(data["schema_version"])}),
        "clear-identifier": lambda: orjson.dumps({**data, "subject_ref": CLEAR_IDENTIFIERS[0]}),
        "extra-field": lambda: orjson.dumps({**data, "passport_no": CLEAR_IDENTIFIERS[1]}),
    }
    if defect == "kind-not-cleared":
        port = _not_clearing(event)
    return RawRecord(topic, port.encode(), defects[defect]())


def _not_clearing(event: Crossing) -> str:
    """A registered port that does not clear the event's kind."""
    return "YANTIAN" if event.kind.value == "traveller" else "LUOHU"


def _z(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def chaos_input(events: int, seed: int) -> tuple[list[RawRecord], datetime]:
    """The records of one scenario and the time they were made (the clock-skew rule's `now`)."""
    now = datetime.now(UTC)
    return dirty_records(live_events(events, seed, now), seed), now
