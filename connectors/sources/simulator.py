"""Traffic simulator: a queueing model of the Shenzhen ports that yields crossing events.

Every port x kind x direction x channel type is one multi-server FIFO queue:

- Arrivals are a Poisson process whose rate is piecewise constant: the registry's
  `daily_volume` (times `scale`) x the half-hour share of `profiles.slot_weights`, times the
  scenario's surges, and zero while the port is closed (opening hours or a `PortClosure`).
- Each open lane serves one subject at a time with a lognormal service time of its channel
  type (`SERVICE_TIMES`); the next in line goes to the lane that frees first. Closed lanes
  (`LaneClosure`) start no service.
- queued_at = arrival, inspection_started_at = service start, released_at = service end
  plus, now and then, a secondary check (health referral, customs inspection) that holds the
  subject but frees the lane. Clearance = wait + service, so it climbs once arrivals exceed
  the open capacity and falls back as the queue drains.

Travellers who may use both channel types spread over them so both work at the same load
(they join the shorter queue); foreign travellers use manual counters only. Everything random
comes from one `random.Random` per queue, seeded from (seed, queue), so a seed fixes every
event, its id included, and a scenario changes only the queues it touches. Identifiers
(document numbers, licences, plates) are synthesised and turned into refs by the
Pseudonymiser at once; events hold refs only.

Default volumes are the registry's `daily_volume` (schemas/ports.toml states the sources: the
HK Immigration Department's 2024 daily averages for travellers, the 5.453 M driver and
5.4497 M truck crossings a year for vehicles). `scale` multiplies the volumes only, lanes stay
as registered: a small scale gives short queues, so scenario effects show at scale 1 (filter
ports, kinds and directions to keep such a run small). With `scale_lanes`, each channel's lanes
are scaled too (rounded, at least one), so utilisation and the waits of an overload stay about
as at scale 1 with a fraction of the events; a lane closure then keeps the same share of lanes
open (rounded, at least one) -- coarser where a channel has few lanes.
"""

from __future__ import annotations

import csv
import heapq
import itertools
import math
import random
import statistics
import uuid
from bisect import bisect
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from connectors.sources.base import Source, paced
from connectors.sources.profiles import SLOT_MINUTES, SLOTS_PER_DAY, slot_weights
from connectors.sources.scenarios import LaneClosure, PortClosure, Scenario, Surge, scenario_by_name
from schemas.events import (
    MAX_CLEARANCE,
    SCHEMA_VERSION,
    CargoType,
    ChannelType,
    Crossing,
    CustomsDecision,
    Direction,
    DocumentType,
    DriverCrossing,
    HealthCheck,
    Kind,
    TravellerCategory,
    TravellerCrossing,
    TruckCrossing,
)
from schemas.ports import SHENZHEN_TZ, Port, PortRegistry, load_ports
from schemas.privacy import Pseudonymiser

DAY_S = 86_400
_SLOT_S = SLOT_MINUTES * 60
_MAX_CLEARANCE_S = MAX_CLEARANCE.total_seconds()


@dataclass(frozen=True)
class ServiceTime:
    """A lognormal duration given by its mean and coefficient of variation."""

    mean_s: float
    cv: float

    @property
    def mu_sigma(self) -> tuple[float, float]:
        """Parameters of `random.lognormvariate` giving this mean and CV."""
        sigma = math.sqrt(math.log1p(self.cv**2))
        return math.log(self.mean_s) - sigma**2 / 2, sigma


def cbp_manual_counter_service_s(csv_path: Path | str, min_avg_wait_min: float = 20) -> float:
    """Mean manual-counter service time (s) implied by CBP wait times at O'Hare T5, 2019.

    In an hour whose average wait is at least `min_avg_wait_min` a queue stands the whole
    hour, so the open booths hardly idle and passengers per booth-hour is their service rate.
    Returns 3600 / the median of `all_total / all_booths` over those hours. The file gives
    57.8 s for 20 min (1,231 hours; 58.6 s at 15 min, 56.1 s at 25 min); the interquartile
    range of booth throughput, 41-90 passengers an hour, is 40-88 s a passenger.
    """
    with open(csv_path, newline="", encoding="utf-8") as file:
        per_booth_hour = [
            int(row["all_total"]) / int(row["all_booths"])
            for row in csv.DictReader(file)
            if int(row["all_booths"]) > 0 and float(row["all_avg_wait"]) >= min_avg_wait_min
        ]
    return 3600 / statistics.median(per_booth_hour)


# Mean from `cbp_manual_counter_service_s` (57.8 s, rounded); the other figures are estimates:
# self-service gates take a scan and a face match, vehicle kiosks clear driver, vehicle and
# declaration together, freight lanes add the customs declaration check and X-ray.
SERVICE_TIMES: dict[ChannelType, ServiceTime] = {
    ChannelType.E_CHANNEL: ServiceTime(12.0, 0.3),
    ChannelType.MANUAL_COUNTER: ServiceTime(58.0, 0.5),
    ChannelType.VEHICLE_LANE: ServiceTime(90.0, 0.4),
    ChannelType.FREIGHT_LANE: ServiceTime(150.0, 0.5),
}

# Share of Hong Kong residents, mainland visitors and other visitors at the six Shenzhen land
# counterparts in 2024, from the HK Immigration Department statistics in ../shared/data
# (tests/unit/connectors/test_simulator.py recomputes them).
TRAVELLER_CATEGORY_SHARES: dict[TravellerCategory, float] = {
    TravellerCategory.HK_MACAO_RESIDENT: 0.783,
    TravellerCategory.MAINLAND_RESIDENT: 0.206,
    TravellerCategory.FOREIGN: 0.011,
}

# Secondary checks, estimates: probability and duration. They hold the subject, not the lane.
# A held truck is inspected too; its event ends with the decision to detain it.
HEALTH_REFERRAL = (0.005, ServiceTime(600.0, 0.5))
CUSTOMS_INSPECTION = (0.05, ServiceTime(1800.0, 0.5))
HELD_SHARE_OF_INSPECTED = 0.1
_MAX_SECONDARY_S = 12 * 3600.0  # keeps every clearance within the schema's 24 h

# Cargo mix (estimate) and declared weights: empty = tare of a tractor and trailer, loaded =
# gross up to the 44 t limit for articulated goods vehicles in Hong Kong.
CARGO_SHARES: dict[CargoType, float] = {
    CargoType.GENERAL: 0.55,
    CargoType.PARCELS: 0.15,
    CargoType.COLD_CHAIN: 0.10,
    CargoType.DANGEROUS_GOODS: 0.02,
    CargoType.EMPTY: 0.18,
}
EMPTY_WEIGHT_KG = (9_000.0, 16_000.0)
LOADED_WEIGHT_KG = (12_000.0, 44_000.0)

# Populations the synthetic identifiers are drawn from (repeat crossers share a ref).
_CARS, _CAR_DRIVERS, _TRUCKS, _TRUCK_DRIVERS = 60_000, 80_000, 30_000, 40_000


@dataclass
class _EffectStats:
    label: str
    clearances: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        values = sorted(self.clearances)
        n = len(values)
        return {
            "effect": self.label,
            "events": n,
            "mean_clearance_s": round(statistics.fmean(values), 1) if n else None,
            "p90_clearance_s": round(values[math.ceil(0.9 * n) - 1], 1) if n else None,
            "max_clearance_s": round(values[-1], 1) if n else None,
        }


@dataclass
class _Queue:
    """One port x kind x direction x channel type, with its arrival rate segments."""

    index: int
    port: Port
    kind: Kind
    direction: Direction
    channel: ChannelType
    lane_ids: tuple[str, ...]
    segments: list[tuple[float, float, float]]  # (from_s, to_s, arrivals per second)
    closed: list[list[tuple[float, float]]]  # per lane: windows in which it starts no service
    category_cum: tuple[float, ...]  # cumulative shares of TravellerCategory, travellers only
    effects: list[tuple[float, float, _EffectStats]]  # windows whose arrivals are counted
    emitted: int = 0


_QueueKey = tuple[str, Kind, Direction, ChannelType]


class SimulatorSource(Source):
    """Simulated crossings of the ports, in `released_at` order.

    `start` (timezone-aware, typically a local midnight) is the simulated start; arrivals run
    for `hours`, then the subjects still queued are served. `scenario` is a Scenario or the
    name of one (`scenarios.SCENARIOS`). `port_codes`, `kinds` and `directions` restrict the
    run. `speed` None yields as fast as possible, else paces event time at `speed` x real
    time with `clock` and `sleep` (default: the real ones; see `base.paced`).
    """

    def __init__(
        self,
        start: datetime,
        hours: float = 24.0,
        *,
        seed: int = 0,
        scenario: Scenario | str = "normal",
        ports: PortRegistry | None = None,
        pseudonymiser: Pseudonymiser,
        scale: float = 1.0,
        scale_lanes: bool = False,
        port_codes: Collection[str] | None = None,
        kinds: Collection[Kind] | None = None,
        directions: Collection[Direction] | None = None,
        speed: float | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if start.utcoffset() is None:
            raise ValueError("start: naive datetime; give a timezone, e.g. Asia/Shanghai")
        if hours <= 0:
            raise ValueError(f"hours must be > 0, got {hours}")
        if scale <= 0:
            raise ValueError(f"scale must be > 0, got {scale}")
        if speed is not None and speed <= 0:
            raise ValueError(f"speed must be > 0 (times real time) or None, got {speed}")
        self._start = start.astimezone(UTC)
        self._start_ts = self._start.timestamp()
        self._end_s = hours * 3600
        local = self._start.astimezone(SHENZHEN_TZ)
        self._day_offset_s = local.hour * 3600 + local.minute * 60 + local.second
        self._day_offset_s += local.microsecond / 1e6
        self._seed = seed
        self._scenario = scenario_by_name(scenario) if isinstance(scenario, str) else scenario
        self._ports = ports if ports is not None else load_ports()
        self._pseudonymiser = pseudonymiser
        self._scale = scale
        self._scale_lanes = scale_lanes
        self._speed = speed
        self._pacing = {name: value for name, value in (("clock", clock), ("sleep", sleep)) if value}
        for effect in self._scenario.effects:
            _check_effect(effect, self._ports.get(effect.port))
        self._effect_windows = [self._daily(*effect.seconds_of_day) for effect in self._scenario.effects]
        self._effect_stats = [_EffectStats(e.label()) for e in self._scenario.effects]
        self._queues = self._build_queues(port_codes, kinds, directions)

    # -- setup ---------------------------------------------------------------------------

    def _daily(self, from_s: float, to_s: float) -> list[tuple[float, float]]:
        """A local time-of-day window, in seconds after the simulated start, on every day
        of the run (Asia/Shanghai keeps no daylight saving, so days repeat)."""
        days = range(int((self._end_s + self._day_offset_s) // DAY_S) + 1)
        windows = [(day * DAY_S + from_s - self._day_offset_s, day * DAY_S + to_s - self._day_offset_s) for day in days]
        return [(w0, w1) for w0, w1 in windows if w1 > 0 and w0 < self._end_s]

    def _build_queues(
        self,
        port_codes: Collection[str] | None,
        kinds: Collection[Kind] | None,
        directions: Collection[Direction] | None,
    ) -> list[_Queue]:
        selected = [self._ports.get(code) for code in port_codes] if port_codes else self._ports
        queues: list[_Queue] = []
        for port in selected:
            for kind in sorted(port.kinds):
                if kinds is not None and kind not in kinds:
                    continue
                opening = _opening_windows(port, kind)
                for direction in sorted(port.lanes[kind]):
                    if directions is not None and direction not in directions:
                        continue
                    channels = port.lanes[kind][direction]
                    volume = port.daily_volume[kind][direction] * self._scale
                    for channel, registered in sorted(channels.items()):
                        lanes = self._lanes(registered)
                        share, category_cum = _channel_share(kind, channel, channels)
                        if volume * share <= 0:
                            continue
                        key = (port.code, kind, direction, channel)
                        effects = list(self._matching(key))
                        queues.append(
                            _Queue(
                                index=len(queues),
                                port=port,
                                kind=kind,
                                direction=direction,
                                channel=channel,
                                lane_ids=tuple(f"{direction}-{channel}-{n:02d}" for n in range(1, lanes + 1)),
                                segments=self._segments(key, volume * share, opening, effects),
                                closed=self._lane_closures(key, registered, lanes, effects),
                                category_cum=category_cum,
                                effects=[
                                    (w0, w1, self._effect_stats[i])
                                    for i in effects
                                    for w0, w1 in self._effect_windows[i]
                                ],
                            )
                        )
        return queues

    def _matching(self, key: _QueueKey) -> Iterator[int]:
        """Indices of the scenario effects that touch queue `key`."""
        port, kind, direction, channel = key
        for i, effect in enumerate(self._scenario.effects):
            if effect.port != port:
                continue
            if isinstance(effect, PortClosure):
                yield i
            elif (effect.kind, effect.direction) != (kind, direction):
                continue
            elif not isinstance(effect, LaneClosure) or effect.channel_type == channel:
                yield i

    def _segments(
        self,
        key: _QueueKey,
        daily_volume: float,
        opening: list[tuple[int, int]],
        effects: list[int],
    ) -> list[tuple[float, float, float]]:
        """Piecewise-constant arrival rate over the run, with a breakpoint at every profile
        slot, opening and closing time and effect boundary. The profile is rescaled to the
        opening hours, so an open day brings `daily_volume` before scenario effects."""
        weights = slot_weights(key[1], key[2])
        open_share = sum(
            weight * _overlap(opening, k * _SLOT_S, (k + 1) * _SLOT_S) / _SLOT_S for k, weight in enumerate(weights)
        )
        open_windows = [w for o in opening for w in self._daily(*o)]
        breaks = {0.0, self._end_s}
        first_slot = -(self._day_offset_s % _SLOT_S)
        breaks.update(first_slot + k * _SLOT_S for k in range(1, int(self._end_s // _SLOT_S) + 2))
        breaks.update(t for window in open_windows for t in window)
        surges: list[tuple[float, float, float]] = []
        closures: list[tuple[float, float]] = []
        for i in effects:
            effect = self._scenario.effects[i]
            for window in self._effect_windows[i]:
                breaks.update(window)
                if isinstance(effect, Surge):
                    surges.append((*window, effect.factor))
                elif isinstance(effect, PortClosure):
                    closures.append(window)
        points = sorted(t for t in breaks if 0 <= t <= self._end_s)
        segments = []
        for t0, t1 in itertools.pairwise(points):
            mid = (t0 + t1) / 2
            if not _within(open_windows, mid) or _within(closures, mid):
                continue
            slot = int((self._day_offset_s + mid) // _SLOT_S) % SLOTS_PER_DAY
            rate = daily_volume * weights[slot] / open_share / _SLOT_S
            for w0, w1, factor in surges:
                if w0 <= mid < w1:
                    rate *= factor
            segments.append((t0, t1, rate))
        return segments

    def _lanes(self, registered: int) -> int:
        """The lanes simulated for a channel of `registered` lanes."""
        return max(1, round(registered * self._scale)) if self._scale_lanes else registered

    def _lane_closures(
        self, key: _QueueKey, registered: int, lanes: int, effects: list[int]
    ) -> list[list[tuple[float, float]]]:
        """Per lane, the windows in which it is closed; a closure takes the last lanes and,
        when lanes are scaled, leaves open the registered share of them (at least one)."""
        closed: list[list[tuple[float, float]]] = [[] for _ in range(lanes)]
        for i in effects:
            effect = self._scenario.effects[i]
            if not isinstance(effect, LaneClosure):
                continue
            still_open = max(1, round((registered - effect.lanes_closed) * lanes / registered))
            for lane in range(still_open, lanes):
                closed[lane].extend(self._effect_windows[i])
        for windows in closed:
            windows.sort()
        return closed

    # -- simulation ----------------------------------------------------------------------

    def events(self) -> Iterator[Crossing]:
        """All events, merged across queues in `released_at` order (paced if `speed`)."""
        for queue in self._queues:
            queue.emitted = 0
        for stats in self._effect_stats:
            stats.clearances.clear()
        merged = (item[3] for item in heapq.merge(*map(self._queue_events, self._queues)))
        if self._speed is None:
            return merged
        return paced(merged, self._speed, start=self._start, **self._pacing)

    def _queue_events(self, q: _Queue) -> Iterator[tuple[float, int, int, Crossing]]:
        """The events of one queue as (released_s, queue index, seq, event), in that order.

        FIFO service starts never decrease, and a release is never before its service start,
        so a pending event released by the latest service start can be yielded.
        """
        rng = random.Random(f"{self._seed}:{q.port.code}:{q.kind}:{q.direction}:{q.channel}")
        build = _BUILDERS[q.kind](self, q, rng)
        mu, sigma = SERVICE_TIMES[q.channel].mu_sigma
        lognormal, expo = rng.lognormvariate, rng.expovariate
        free = [(0.0, lane) for lane in range(len(q.lane_ids))]
        pending: list[tuple[float, int, int, Crossing]] = []
        seq = 0
        for t0, t1, rate in q.segments:
            arrival = t0 + expo(rate)
            while arrival < t1:
                while True:
                    free_at, lane = heapq.heappop(free)
                    start = arrival if arrival > free_at else free_at
                    reopen = _reopening(q.closed[lane], start)
                    if reopen == start:
                        break
                    heapq.heappush(free, (reopen, lane))
                service_end = start + lognormal(mu, sigma)
                heapq.heappush(free, (service_end, lane))
                released, event = build(arrival, start, service_end, q.lane_ids[lane])
                if released - arrival > _MAX_CLEARANCE_S:
                    raise ValueError(
                        f"the queue {q.port.code} {q.kind} {q.direction} {q.channel} grew past "
                        f"{MAX_CLEARANCE} of clearance: the scenario overloads it"
                    )
                for w0, w1, stats in q.effects:
                    if w0 <= arrival < w1:
                        stats.clearances.append(released - arrival)
                heapq.heappush(pending, (released, q.index, seq, event))
                seq += 1
                while pending[0][0] <= start:
                    q.emitted += 1
                    yield heapq.heappop(pending)
                arrival += expo(rate)
        while pending:
            q.emitted += 1
            yield heapq.heappop(pending)

    def summary(self) -> dict[str, Any]:
        """Events per kind and port; per scenario effect, the arrivals in its window at the
        queues it touches and their clearance (mean, p90, max)."""
        by_port: dict[str, Counter[str]] = {}
        for q in self._queues:
            by_port.setdefault(q.port.code, Counter())[q.kind.value] += q.emitted
        by_kind: Counter[str] = Counter()
        for counts in by_port.values():
            by_kind.update(counts)
        return {
            "source": "simulator",
            "scenario": self._scenario.name,
            "seed": self._seed,
            "start": self._start.isoformat().replace("+00:00", "Z"),
            "hours": self._end_s / 3600,
            "scale": self._scale,
            "scale_lanes": self._scale_lanes,
            "events": sum(by_kind.values()),
            "by_kind": dict(by_kind),
            "by_port": {code: dict(counts) for code, counts in by_port.items()},
            "effects": [stats.as_dict() for stats in self._effect_stats],
        }


def simulated_period(hours: float, today: date | None = None) -> tuple[datetime, datetime]:
    """`hours` ending at or before the last Shenzhen midnight, starting at a local midnight:
    a period wholly in the past, as the job takes events ahead of its clock for clock skew."""
    today = today or datetime.now(SHENZHEN_TZ).date()
    days = max(1, math.ceil(hours / 24))
    start = datetime.combine(today - timedelta(days=days), time(0), SHENZHEN_TZ)
    return start, start + timedelta(hours=hours)


def _check_effect(effect: LaneClosure | Surge | PortClosure, port: Port) -> None:
    """Refuse an effect on a kind the port does not clear, and a lane closure that would
    leave no lane of its channel type open."""
    if isinstance(effect, PortClosure):
        return
    if effect.kind not in port.kinds:
        raise ValueError(f"{effect.label()}: {port.code} does not clear {effect.kind} crossings")
    if isinstance(effect, LaneClosure):
        lanes = port.lanes[effect.kind][effect.direction].get(effect.channel_type, 0)
        if effect.lanes_closed >= lanes:
            raise ValueError(
                f"{effect.label()}: {port.code} has {lanes} such lanes and one must stay "
                "open; close the port with a port-closure instead"
            )


def _opening_windows(port: Port, kind: Kind) -> list[tuple[int, int]]:
    """The local time-of-day windows, in seconds after midnight, in which `port` clears
    `kind` (whole minutes, read through `Port.is_open`)."""
    midnight = datetime(2024, 1, 1, tzinfo=SHENZHEN_TZ)
    is_open = [port.is_open(kind, midnight + timedelta(minutes=m)) for m in range(1440)]
    windows: list[tuple[int, int]] = []
    for minute, open_now in enumerate(is_open):
        if open_now and (minute == 0 or not is_open[minute - 1]):
            windows.append((minute * 60, DAY_S))
        elif not open_now and minute > 0 and is_open[minute - 1]:
            windows[-1] = (windows[-1][0], minute * 60)
    return windows


def _overlap(windows: list[tuple[int, int]], start: float, end: float) -> float:
    """Seconds of [start, end) inside the windows."""
    return sum(max(0.0, min(end, w1) - max(start, w0)) for w0, w1 in windows)


def _within(windows: list[tuple[float, float]], t: float) -> bool:
    return any(w0 <= t < w1 for w0, w1 in windows)


def _reopening(windows: list[tuple[float, float]], t: float) -> float:
    """The first instant from `t` on outside every closure window of a lane."""
    for w0, w1 in windows:
        if w0 <= t < w1:
            t = w1
    return t


def _channel_share(
    kind: Kind, channel: ChannelType, channels: dict[ChannelType, int]
) -> tuple[float, tuple[float, ...]]:
    """Share of the kind's arrivals that use `channel`, and, for travellers, the cumulative
    category shares in that queue (order of TravellerCategory)."""
    if kind != Kind.TRAVELLER:
        return 1.0, ()
    shares = TRAVELLER_CATEGORY_SHARES
    foreign = shares[TravellerCategory.FOREIGN]
    capacity = {ch: n / SERVICE_TIMES[ch].mean_s for ch, n in channels.items()}
    if len(channels) == 1:
        share, foreign_here = 1.0, foreign
    elif channel == ChannelType.E_CHANNEL:
        share, foreign_here = (1 - foreign) * capacity[channel] / sum(capacity.values()), 0.0
    else:
        share = foreign + (1 - foreign) * capacity[channel] / sum(capacity.values())
        foreign_here = foreign / share
    hk = shares[TravellerCategory.HK_MACAO_RESIDENT] / (1 - foreign) * (1 - foreign_here)
    return share, (hk, 1 - foreign_here, 1.0)


def _new_id(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


_Build = Callable[[float, float, float, str], tuple[float, Crossing]]


def _common(q: _Queue) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "port_code": q.port.code,
        "direction": q.direction,
        "channel_type": q.channel,
        "inspection_mode": q.port.inspection_mode,
    }


def _traveller_builder(source: SimulatorSource, q: _Queue, rng: random.Random) -> _Build:
    common = _common(q)
    ref = source._pseudonymiser.ref
    categories = tuple(TravellerCategory)
    at, base = datetime.fromtimestamp, source._start_ts

    def build(arrival: float, start: float, end: float, lane_id: str) -> tuple[float, Crossing]:
        category = categories[bisect(q.category_cum, rng.random())]
        number = rng.randrange(100_000_000)
        if category == TravellerCategory.HK_MACAO_RESIDENT:
            document, identifier = DocumentType.HOME_RETURN_PERMIT, f"H{number:08d}"
        elif category == TravellerCategory.MAINLAND_RESIDENT:
            if rng.random() < 0.02:
                document, identifier = DocumentType.PASSPORT, f"E{number:08d}"
            else:
                document, identifier = DocumentType.EXIT_ENTRY_PERMIT, f"C{number:08d}"
        elif rng.random() < 0.03:
            document, identifier = DocumentType.OTHER, f"X{number:08d}"
        else:
            document, identifier = DocumentType.PASSPORT, f"P{number:08d}"
        # from_trusted skips validation: every field is valid by construction (registry
        # port and channel, ordered UTC times, refs from the Pseudonymiser); tests validate.
        return end, TravellerCrossing.from_trusted(
            event_id=_new_id(rng),
            kind=Kind.TRAVELLER,
            lane_id=lane_id,
            queued_at=at(base + arrival, UTC),
            inspection_started_at=at(base + start, UTC),
            released_at=at(base + end, UTC),
            subject_ref=ref("document", identifier),
            category=category,
            document_type=document,
            **common,
        )

    return build


def _driver_builder(source: SimulatorSource, q: _Queue, rng: random.Random) -> _Build:
    common = _common(q)
    ref = source._pseudonymiser.ref
    at, base = datetime.fromtimestamp, source._start_ts
    referral_p, referral = HEALTH_REFERRAL
    mu, sigma = referral.mu_sigma

    def build(arrival: float, start: float, end: float, lane_id: str) -> tuple[float, Crossing]:
        health = HealthCheck.PASSED
        released = end
        if rng.random() < referral_p:
            health = HealthCheck.REFERRED
            released += min(rng.lognormvariate(mu, sigma), _MAX_SECONDARY_S)
        return released, DriverCrossing.from_trusted(  # valid by construction, see above
            event_id=_new_id(rng),
            kind=Kind.DRIVER,
            lane_id=lane_id,
            queued_at=at(base + arrival, UTC),
            inspection_started_at=at(base + start, UTC),
            released_at=at(base + released, UTC),
            subject_ref=ref("licence", f"{rng.randrange(_CAR_DRIVERS):012d}"),
            vehicle_ref=ref("plate", f"粤Z{rng.randrange(_CARS):05d}港"),
            health_check=health,
            **common,
        )

    return build


def _truck_builder(source: SimulatorSource, q: _Queue, rng: random.Random) -> _Build:
    common = _common(q)
    ref = source._pseudonymiser.ref
    at, base = datetime.fromtimestamp, source._start_ts
    cargo_types = tuple(CARGO_SHARES)
    cargo_cum = tuple(_cumulative(CARGO_SHARES.values()))
    inspect_p, inspection = CUSTOMS_INSPECTION
    mu, sigma = inspection.mu_sigma

    def build(arrival: float, start: float, end: float, lane_id: str) -> tuple[float, Crossing]:
        cargo = cargo_types[bisect(cargo_cum, rng.random())]
        low, high = EMPTY_WEIGHT_KG if cargo == CargoType.EMPTY else LOADED_WEIGHT_KG
        draw = rng.random()
        released = end
        decision = CustomsDecision.RELEASED
        if draw < inspect_p:
            held = draw < inspect_p * HELD_SHARE_OF_INSPECTED
            decision = CustomsDecision.HELD if held else CustomsDecision.INSPECTED_RELEASED
            released += min(rng.lognormvariate(mu, sigma), _MAX_SECONDARY_S)
        return released, TruckCrossing.from_trusted(  # valid by construction, see above
            event_id=_new_id(rng),
            kind=Kind.TRUCK,
            lane_id=lane_id,
            queued_at=at(base + arrival, UTC),
            inspection_started_at=at(base + start, UTC),
            released_at=at(base + released, UTC),
            subject_ref=ref("licence", f"{_CAR_DRIVERS + rng.randrange(_TRUCK_DRIVERS):012d}"),
            plate_ref=ref("plate", f"粤Z{_CARS + rng.randrange(_TRUCKS):05d}港"),
            cargo_type=cargo,
            declared_weight_kg=round(rng.uniform(low, high), -1),
            customs_decision=decision,
            **common,
        )

    return build


def _cumulative(values: Collection[float]) -> Iterator[float]:
    total, running = sum(values), 0.0
    for value in values:
        running += value
        yield running / total


_BUILDERS: dict[Kind, Callable[[SimulatorSource, _Queue, random.Random], _Build]] = {
    Kind.TRAVELLER: _traveller_builder,
    Kind.DRIVER: _driver_builder,
    Kind.TRUCK: _truck_builder,
}
