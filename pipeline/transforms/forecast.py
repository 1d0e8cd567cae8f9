"""Clearance forecast 15 to 60 minutes ahead, per port, kind and direction (issue 21).

A pure, deterministic queueing model on per-minute aggregates of released crossings, so the
benchmark (`bench/forecast.py`) measures exactly the function a job would call once per key
and minute. Times are whole minutes (any origin); clearances and waits are seconds.

The model (docs/forecast.md):

- `Profile`, learnt from past days only: arrivals per minute of day (by `queued_at`), the usual
  p90 clearance per minute of day, and the mean service time of each lane.
- Now, at minute `t`: the excess of the observed p90 (5-minute window, widened to hold 5
  crossings) over the usual p90 is a wait, so by
  Little's law `excess x capacity` subjects queued beyond the usual (at the arrival time of the
  cohort being released, `t - excess`). Capacity = the lanes releasing in the last minutes
  (all open lanes are busy while a queue stands) x their service rates; without a queue, every
  lane seen in the profile.
- Arrivals ahead = the profile x the ratio of the arrivals observed lately (complete only up to
  the arrival time of those being released) to the profile over the same minutes.
- A fluid queue `Q' = arrivals - capacity` (never below zero) from the cohort's arrival time
  onwards; the cohort released at `t + h` waited `Q(arrival) / capacity` with
  `arrival = t + h - wait` (a fixed point). Forecast p90 = usual p90 at `t + h` + that wait.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

HORIZONS_MIN: tuple[int, ...] = (15, 30, 60)
MINUTES_PER_DAY = 1440
WINDOW_MIN = 5  # the clearance windows of the job: 5 minutes sliding by 1
LANE_WINDOW_MIN = 5  # lanes releasing in the last minutes count as in service
RATIO_WINDOW_MIN = 15  # minutes of observed arrivals compared with the profile
RATIO_PRIOR = 5.0  # arrivals added to both sides of the ratio: few arrivals say little
RATIO_BOUNDS = (0.3, 5.0)
PROFILE_SMOOTH_MIN = 15  # half-width of the moving average of the arrival profile
QUEUE_EXCESS_MIN_S = 120.0
BUSY_SHARE = 0.7  # releases / what the lanes releasing could clear: a queue keeps them busy
RECENT_WINDOWS_MIN = (WINDOW_MIN, 10, 15, 20, 30)
MIN_WINDOW_CROSSINGS = 5  # as schemas.ports: fewer crossings give no p90


def p90(values: Sequence[float]) -> float | None:
    """The nearest-rank 90th percentile (as the job's CLEARANCE_STATS), None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


@dataclass(frozen=True)
class Profile:
    """What past days say about one port, kind and direction."""

    arrivals: tuple[float, ...]  # per minute of day, smoothed
    usual_p90_s: tuple[float, ...]  # per minute of day
    lane_service_s: Mapping[str, float]  # mean service time per lane id

    def capacity_per_min(self, lanes: Iterable[str]) -> float:
        """Subjects per minute the given lanes clear together."""
        return sum(60.0 / self.lane_service_s[lane] for lane in lanes if lane in self.lane_service_s)

    @property
    def full_capacity_per_min(self) -> float:
        return self.capacity_per_min(self.lane_service_s)


ProfileKey = tuple[str, str, str]  # port_code, kind, direction


def profiles_to_json(profiles: Mapping[ProfileKey, Profile]) -> str:
    """The profiles of every port, kind and direction as one JSON document (what the forecast
    job reads at its start)."""
    return json.dumps(
        {
            "profiles": [
                {
                    "port_code": port,
                    "kind": kind,
                    "direction": direction,
                    "arrivals": [round(value, 4) for value in profile.arrivals],
                    "usual_p90_s": [round(value, 3) for value in profile.usual_p90_s],
                    "lane_service_s": {lane: round(value, 3) for lane, value in sorted(profile.lane_service_s.items())},
                }
                for (port, kind, direction), profile in sorted(profiles.items())
            ]
        },
        separators=(",", ":"),
    )


def profiles_from_json(text: str) -> dict[ProfileKey, Profile]:
    """The profiles `profiles_to_json` wrote; ValueError naming the entry when one is not whole."""
    profiles = {}
    for i, entry in enumerate(json.loads(text)["profiles"]):
        key = (entry["port_code"], entry["kind"], entry["direction"])
        if len(entry["arrivals"]) != MINUTES_PER_DAY or len(entry["usual_p90_s"]) != MINUTES_PER_DAY:
            raise ValueError(f"profile {i} ({'/'.join(key)}) does not hold {MINUTES_PER_DAY} minutes")
        profiles[key] = Profile(
            tuple(float(v) for v in entry["arrivals"]),
            tuple(float(v) for v in entry["usual_p90_s"]),
            {lane: float(v) for lane, v in entry["lane_service_s"].items()},
        )
    return profiles


@dataclass
class MinuteAggregates:
    """Per-minute aggregates of released crossings of one key, as the stream carries them."""

    arrivals: dict[int, int] = field(default_factory=dict)  # by queued_at minute
    releases: dict[int, list[float]] = field(default_factory=dict)  # clearances by released_at minute
    lanes: dict[int, set[str]] = field(default_factory=dict)  # lanes releasing, by minute

    def add(self, queued_min: int, released_min: int, clearance_s: float, lane_id: str) -> None:
        self.arrivals[queued_min] = self.arrivals.get(queued_min, 0) + 1
        self.releases.setdefault(released_min, []).append(clearance_s)
        self.lanes.setdefault(released_min, set()).add(lane_id)

    def window_p90(self, end_min: int, minutes: int = WINDOW_MIN) -> float | None:
        """p90 of the clearances released in [end - minutes, end), None under 5 crossings."""
        values = [c for m in range(end_min - minutes, end_min) for c in self.releases.get(m, ())]
        return p90(values) if len(values) >= MIN_WINDOW_CROSSINGS else None

    def recent_p90(self, end_min: int) -> tuple[float | None, int]:
        """The p90 of the shortest window ending at `end` (5 minutes, widened up to 30) that
        holds 5 crossings, and its minutes: a slow queue (2 freight lanes) releases fewer in 5."""
        for minutes in RECENT_WINDOWS_MIN:
            if (value := self.window_p90(end_min, minutes)) is not None:
                return value, minutes
        return None, WINDOW_MIN

    def released(self, end_min: int, minutes: int) -> int:
        return sum(len(self.releases.get(m, ())) for m in range(end_min - minutes, end_min))


def learn_profile(days: Sequence[MinuteAggregates], lane_service: Mapping[str, Sequence[float]]) -> Profile:
    """A profile from past days, each with minutes 0..1439 of its own local day, and service
    times (released_at - inspection_started_at, s) per lane; the slowest 10 % of each lane's
    are dropped: secondary checks hold the subject, not the lane."""
    mean_arrivals = [sum(day.arrivals.get(m, 0) for day in days) / max(1, len(days)) for m in range(MINUTES_PER_DAY)]
    smoothed = []
    for m in range(MINUTES_PER_DAY):
        lo, hi = max(0, m - PROFILE_SMOOTH_MIN), min(MINUTES_PER_DAY, m + PROFILE_SMOOTH_MIN + 1)
        smoothed.append(sum(mean_arrivals[lo:hi]) / (hi - lo))
    windows = [[day.window_p90(m) for m in range(MINUTES_PER_DAY)] for day in days]
    usual: list[float | None] = []
    for m in range(MINUTES_PER_DAY):
        lo, hi = max(0, m - PROFILE_SMOOTH_MIN), min(MINUTES_PER_DAY, m + PROFILE_SMOOTH_MIN + 1)
        seen = [v for day in windows for v in day[lo:hi] if v is not None]
        usual.append(statistics.median(seen) if seen else None)
    known = [v for v in usual if v is not None]
    fallback = statistics.median(known) if known else 0.0
    services = {}
    for lane, values in lane_service.items():
        kept = sorted(values)[: max(1, math.floor(0.9 * len(values)))]
        if kept:
            services[lane] = max(1.0, statistics.fmean(kept))
    return Profile(tuple(smoothed), tuple(v if v is not None else fallback for v in usual), services)


@dataclass(frozen=True)
class Forecast:
    horizon_min: int
    p90_s: float
    queue: float  # subjects queued beyond the usual, expected at the cohort's arrival
    capacity_per_min: float
    arrival_ratio: float


def forecast(
    now: MinuteAggregates,
    t: int,
    profile: Profile,
    *,
    day_offset_min: int = 0,
    horizons: Sequence[int] = HORIZONS_MIN,
) -> list[Forecast]:
    """Forecasts issued at minute `t` (events released before `t` known) for each horizon.
    `day_offset_min`: the minute of day of minute 0 of `now`'s timeline."""

    def of_day(m: int) -> int:
        return (m + day_offset_min) % MINUTES_PER_DAY

    observed, window = now.recent_p90(t)
    usual_now = profile.usual_p90_s[of_day(t)]
    excess_s = max(0.0, observed - usual_now) if observed is not None else 0.0

    span = max(LANE_WINDOW_MIN, window)
    active = set().union(*(now.lanes.get(m, set()) for m in range(t - span, t)))
    active_capacity = profile.capacity_per_min(active)
    # a small excess is noise of a 5-minute p90, and lanes that idle serve no queue: a slow
    # p90 from secondary checks (customs inspections) is no queue either
    busy = now.released(t, span) >= BUSY_SHARE * active_capacity * span
    queued = excess_s >= max(QUEUE_EXCESS_MIN_S, 0.5 * usual_now) and busy
    if not busy:
        excess_s = 0.0
    capacity = max(active_capacity if queued else profile.full_capacity_per_min, 1e-6)

    # arrivals are complete up to the arrival time of the cohort being released now
    complete_to = t - math.ceil(1.2 * (observed or 0.0) / 60.0)
    minutes = range(complete_to - RATIO_WINDOW_MIN, complete_to)
    seen = sum(now.arrivals.get(m, 0) for m in minutes)
    expected = sum(profile.arrivals[of_day(m)] for m in minutes)
    ratio = min(max((seen + RATIO_PRIOR) / (expected + RATIO_PRIOR), RATIO_BOUNDS[0]), RATIO_BOUNDS[1])

    # fluid queue from the cohort's arrival time (t - excess) to the last horizon
    start = t - math.ceil(excess_s / 60.0)
    queue = {start: excess_s / 60.0 * capacity}
    last = t + max(horizons)
    for m in range(start, last):
        inflow = profile.arrivals[of_day(m)] * ratio
        queue[m + 1] = max(0.0, queue[m] + inflow - capacity)

    results = []
    for h in horizons:
        end = t + h
        wait = queue[end] / capacity
        for _ in range(4):
            arrival = min(max(start, round(end - wait)), last)
            wait = queue[arrival] / capacity
        p90_s = profile.usual_p90_s[of_day(end)] + wait * 60.0
        results.append(Forecast(h, p90_s, queue[min(max(start, round(end - wait)), last)], capacity, ratio))
    return results


# --- early warning and diversion advice -------------------------------------------------------

WARNING_HORIZON_MIN = 30  # the forecast the early warning reads
WARNING_RAISE_MIN = 3  # consecutive minutes above the threshold raise (as the clearance alerts)
WARNING_RESOLVE_MIN = 5  # consecutive minutes below RESOLVE_SHARE x threshold resolve
WARNING_RESOLVE_SHARE = 0.8
WARNING_SEVERITY = "early-warning"
# ports clearing the same kind in the same direction, between which traffic can divert
PEER_PORTS: Mapping[str, tuple[str, ...]] = {
    "truck": ("HUANGGANG", "LIANTANG", "SHENZHEN_BAY"),
    "traveller": ("LUOHU", "FUTIAN", "SHENZHEN_BAY"),
}


@dataclass(frozen=True)
class WarningEvent:
    """One state of a `forecast` episode: `raised` once, `resolved` once."""

    state: str  # "raised" or "resolved"
    minute: int
    started_at: int  # minute raised
    peak_forecast_s: float
    threshold_s: float
    severity: str = WARNING_SEVERITY
    episode_type: str = "forecast"


@dataclass
class EarlyWarning:
    """The hysteresis of the clearance alerts (pipeline/transforms/alerts.py) on the 30-minute
    forecast of one port, kind and direction: raised after 3 consecutive minutes above the
    port's threshold, resolved after 5 consecutive minutes below 80 % of it; a closed port
    raises nothing and counts as below. Feed it one minute at a time, in order."""

    threshold_s: float
    _above: int = 0
    _below: int = 0
    _open_at: int | None = None
    _peak: float = 0.0

    @property
    def is_open(self) -> bool:
        return self._open_at is not None

    def step(self, minute: int, forecast_30_s: float | None, *, port_open: bool = True) -> WarningEvent | None:
        value = forecast_30_s if port_open and forecast_30_s is not None else None
        self._above = self._above + 1 if value is not None and value > self.threshold_s else 0
        below = value is None or value < WARNING_RESOLVE_SHARE * self.threshold_s
        self._below = self._below + 1 if below else 0
        if self._open_at is None:
            if self._above >= WARNING_RAISE_MIN:
                self._open_at, self._peak = minute, float(value or 0.0)
                return WarningEvent("raised", minute, minute, self._peak, self.threshold_s)
            return None
        self._peak = max(self._peak, value or 0.0)
        if self._below >= WARNING_RESOLVE_MIN:
            started, self._open_at = self._open_at, None
            return WarningEvent("resolved", minute, started, self._peak, self.threshold_s)
        return None


def warning_episodes(
    forecasts_30_s: Sequence[float | None], threshold_s: float, first_minute: int = 0
) -> list[tuple[int, int | None]]:
    """(raised, resolved or None) minutes of the early warnings of a series of 30-minute
    forecasts, one per minute from `first_minute`."""
    rule, result = EarlyWarning(threshold_s), []
    for i, value in enumerate(forecasts_30_s):
        event = rule.step(first_minute + i, value)
        if event is not None and event.state == "raised":
            result.append((event.minute, None))
        elif event is not None:
            result[-1] = (event.started_at, event.minute)
    return result


@dataclass(frozen=True)
class Advice:
    """Where to divert: the peer port with the lowest forecast, and how many minutes less."""

    port_code: str
    forecast_s: float
    difference_min: float


def diversion_advice(port_code: str, kind: str, forecasts_s: Mapping[str, float | None]) -> Advice | None:
    """Among the peers of `port_code` for `kind` (PEER_PORTS; the same direction is the
    caller's), the port with the lowest forecast, if lower than `port_code`'s own; ties go to
    the first peer listed. None when the port has no peers or no peer forecasts less."""
    peers = PEER_PORTS.get(str(kind), ())
    own = forecasts_s.get(port_code)
    if port_code not in peers or own is None:
        return None
    candidates = [
        (forecasts_s[p], i, p) for i, p in enumerate(peers) if p != port_code and forecasts_s.get(p) is not None
    ]
    if not candidates:
        return None
    best_s, _, best = min(candidates)
    if best_s >= own:
        return None
    return Advice(best, best_s, round((own - best_s) / 60.0, 1))
