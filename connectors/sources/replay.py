"""Replay of the HK Immigration Department's daily passenger traffic as traveller crossings.

Each row of the statistics (day x Hong Kong control point x direction, counts per traveller
category) becomes crossings at the Shenzhen counterpart port: a Hong Kong arrival is a
Shenzhen exit, a departure an entry. For every day, port, direction and category the replay
yields exactly round-half-even(count x scale) events (`apportion.scaled_count`), spread over
the local hours by `profiles.hourly_weights` restricted to the port's opening hours and
apportioned in integers, so nothing drifts. Control points without a counterpart (airport,
ferries, the bridge, the express rail) are skipped and counted by name; bad rows are rejected
with their line number while the rest of the file replays.

Within an hour a release instant is uniform over the open part of the hour. Residents spread
over the channel types in proportion to their capacity, foreign travellers use manual
counters; the service time is drawn as in the simulator (`SERVICE_TIMES`) and the queue wait
is exponential with mean service x rho / (1 - rho), rho being the hour's real (unscaled)
arrivals over the channel capacity, capped at `MAX_UTILISATION`: a heuristic that lengthens
queues at the peaks, not a queueing model. Everything random comes from one `random.Random`
per day x port x direction x category seeded from the seed, so a seed fixes every event, its
id included, independently of the date range and of the other rows.
"""

from __future__ import annotations

import csv
import random
import re
import uuid
from bisect import bisect
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any, TextIO

from connectors.sources.apportion import Scale, apportion, exact_scale, scaled_count
from connectors.sources.base import Source
from connectors.sources.profiles import hourly_weights
from connectors.sources.simulator import SERVICE_TIMES
from schemas.events import (
    SCHEMA_VERSION,
    ChannelType,
    Crossing,
    Direction,
    DocumentType,
    Kind,
    TravellerCategory,
    TravellerCrossing,
)
from schemas.ports import SHENZHEN_TZ, Port, PortRegistry, load_ports
from schemas.privacy import Pseudonymiser

# Every control point named in the statistics 2021-01-01 to 2025-06-30; the ones without a
# Shenzhen counterpart in the port registry are skipped, any other name is rejected.
KNOWN_HK_CONTROL_POINTS = frozenset(
    {
        "Airport",
        "China Ferry Terminal",
        "Express Rail Link West Kowloon",
        "Harbour Control",
        "Heung Yuen Wai",
        "Hong Kong-Zhuhai-Macao Bridge",
        "Hung Hom",
        "Kai Tak Cruise Terminal",
        "Lo Wu",
        "Lok Ma Chau",
        "Lok Ma Chau Spur Line",
        "Macau Ferry Terminal",
        "Man Kam To",
        "Sha Tau Kok",
        "Shenzhen Bay",
        "Tuen Mun Ferry Terminal",
    }
)

# The direction is seen from Hong Kong: arriving there is leaving Shenzhen.
HK_DIRECTIONS: dict[str, Direction] = {"Arrival": Direction.EXIT, "Departure": Direction.ENTRY}

CATEGORY_COLUMNS: dict[str, TravellerCategory] = {
    "Hong Kong Residents": TravellerCategory.HK_MACAO_RESIDENT,
    "Mainland Visitors": TravellerCategory.MAINLAND_RESIDENT,
    "Other Visitors": TravellerCategory.FOREIGN,
}
COLUMNS = ("Date", "Control Point", "Arrival / Departure", *CATEGORY_COLUMNS, "Total")

# Document carried, and the prefix of its synthetic number (the simulator's formats).
DOCUMENTS: dict[TravellerCategory, tuple[DocumentType, str]] = {
    TravellerCategory.HK_MACAO_RESIDENT: (DocumentType.HOME_RETURN_PERMIT, "H"),
    TravellerCategory.MAINLAND_RESIDENT: (DocumentType.EXIT_ENTRY_PERMIT, "C"),
    TravellerCategory.FOREIGN: (DocumentType.PASSPORT, "P"),
}
DOCUMENT_NUMBERS = 100_000_000
MAX_UTILISATION = 0.9
# Bounds of the input: the busiest row of 2021-2025 is Lo Wu's 168,435 departures of
# 29-03-2024, the longest line 75 characters; 131,072 is the csv module's field limit.
MAX_DAILY_COUNT = 10_000_000
MAX_SCALE = 10
MAX_LINE_CHARS = 131_072
_SHOWN_CHARS = 40

_DATE = re.compile(r"([0-9]{2})-([0-9]{2})-([0-9]{4})")
_HOUR_S = 3600
_DAY_S = 86_400
_US = 1_000_000


@dataclass(frozen=True, slots=True)
class Rejection:
    """A line of the statistics that was not replayed, and why (`raw`: the line, only its
    start when it is over MAX_LINE_CHARS)."""

    line: int
    reason: str
    raw: str


@dataclass(frozen=True, slots=True)
class DailyTraffic:
    """One valid row: the travellers of one day, control point and direction (from Shenzhen)."""

    line: int
    day: date
    control_point: str
    direction: Direction
    counts: Mapping[TravellerCategory, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def read_hk_statistics(
    path: Path | str, date_from: date | None = None, date_to: date | None = None
) -> tuple[list[DailyTraffic], list[Rejection]]:
    """The valid rows of the daily passenger traffic CSV dated in [date_from, date_to], and
    the rejected lines (1-based, the header is line 1; lines end with LF or CRLF), read one
    line at a time and at most MAX_LINE_CHARS of it.

    A row whose date parses and lies outside the range is skipped unchecked. Raises
    ValueError if the header is not that of the statistics.
    """
    if date_from and date_to and date_from > date_to:
        raise ValueError(f"date_from {date_from} is after date_to {date_to}")
    rows: list[DailyTraffic] = []
    rejections: list[Rejection] = []
    seen: dict[tuple[date, str, str], int] = {}
    with open(path, encoding="utf-8-sig", errors="replace", newline="\n") as file:
        lines = enumerate(_rows(file), start=1)
        _, (_, header, _) = next(lines, (1, ("", None, None)))
        if header is None or tuple(header) != COLUMNS:
            raise ValueError(
                f"{path}: not the HK Immigration Department daily passenger traffic CSV; "
                f"its header should be {','.join(COLUMNS)}"
            )
        for line, (raw, fields, reason) in lines:
            if fields is not None and not raw.strip():
                continue
            day = _parse_date(fields[0]) if fields else None
            if day is not None and ((date_from and day < date_from) or (date_to and day > date_to)):
                continue
            reason = reason or _check(fields, day)
            if reason is None:
                key = (day, fields[1], fields[2])
                first = seen.setdefault(key, line)
                if first != line:
                    reason = f"duplicate row: {fields[1]} {fields[2]} on {fields[0]} is also at line {first}"
            if reason is not None:
                rejections.append(Rejection(line, reason, raw))
                continue
            rows.append(
                DailyTraffic(
                    line=line,
                    day=day,
                    control_point=fields[1],
                    direction=HK_DIRECTIONS[fields[2]],
                    counts={category: _count(value) for category, value in zip(CATEGORY_COLUMNS.values(), fields[3:6])},
                )
            )
    return rows, rejections


def _rows(file: TextIO) -> Iterator[tuple[str, list[str] | None, str | None]]:
    """Each line of `file` without its LF or CRLF, with its fields, or None and why it cannot
    be read. A line is read up to MAX_LINE_CHARS: the rest of a longer one is skipped."""
    while text := file.readline(MAX_LINE_CHARS + 1):
        if len(text) > MAX_LINE_CHARS and not text.endswith("\n"):
            rest = text
            while rest and not rest.endswith("\n"):
                rest = file.readline(MAX_LINE_CHARS)
            yield text[:_SHOWN_CHARS], None, f"line over the CSV field limit of {MAX_LINE_CHARS:,} characters"
            continue
        raw = text.removesuffix("\n").removesuffix("\r")
        if "\r" in raw:
            yield raw, None, "lone carriage return (CR) in the line: lines end with LF or CRLF"
            continue
        try:
            fields = [field.strip() for field in next(csv.reader([raw]), [])]
        except csv.Error as error:
            yield raw, None, f"malformed row: {error}"
            continue
        if len(fields) > 1 and not fields[-1]:
            fields.pop()  # the empty field after a trailing comma
        yield raw, fields, None


def _shown(text: str) -> str:
    """`text` for a reason: only its start when long."""
    return text if len(text) <= _SHOWN_CHARS else f"{text[:_SHOWN_CHARS]}..."


def _count(digits: str) -> int:
    """A count of ASCII digits; leading zeros do not count towards int()'s limit of 4,300."""
    return int(digits.lstrip("0") or "0")


def _parse_date(text: str) -> date | None:
    match = _DATE.fullmatch(text)
    if match is None:
        return None
    try:
        return date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        return None


def _check(fields: list[str], day: date | None) -> str | None:
    """Why a row cannot be replayed, or None if it can."""
    if len(fields) != len(COLUMNS):
        return f"malformed row: expected {len(COLUMNS)} fields, got {len(fields)}"
    if day is None:
        return f"malformed row: bad date {_shown(fields[0])!r}, expected DD-MM-YYYY"
    if fields[1] not in KNOWN_HK_CONTROL_POINTS:
        return f"unknown control point {_shown(fields[1])!r}"
    if fields[2] not in HK_DIRECTIONS:
        return f"unknown direction {_shown(fields[2])!r}, expected Arrival or Departure"
    counts = []
    for column, text in zip(COLUMNS[3:], fields[3:], strict=True):
        digits = text.removeprefix("-")
        if not (digits.isascii() and digits.isdigit()):
            return f"malformed row: {column} is not an integer: {_shown(text)!r}"
        if text.startswith("-"):
            return f"negative count: {column} is {_shown(text)}"
        # the length first: int() of thousands of digits is slow, and refused past 4,300
        if len(digits.lstrip("0")) > len(str(MAX_DAILY_COUNT)) or _count(digits) > MAX_DAILY_COUNT:
            return f"implausible count: {column} is over {MAX_DAILY_COUNT:,} a day at one control point"
        counts.append(_count(digits))
    *categories, total = counts
    if sum(categories) != total:
        return f"total mismatch: Total is {total} but the categories add up to {sum(categories)}"
    return None


@dataclass(frozen=True, slots=True)
class _Channel:
    """A channel type of one port and direction, with its lanes and hourly mean waits."""

    channel_type: ChannelType
    lane_ids: tuple[str, ...]
    mu: float
    sigma: float
    mean_wait_s: tuple[float, ...]


class _Stream:
    """The events of one day x port x direction x category, drawn from its own generator."""

    def __init__(
        self,
        seed: int,
        day: date,
        port: Port,
        direction: Direction,
        category: TravellerCategory,
        shares: Mapping[_Channel, float],
    ) -> None:
        self.rng = random.Random(f"{seed}:{day.isoformat()}:{port.code}:{direction}:{category}")
        self.channels = tuple(shares)
        # Upper bounds of all channels but the last, so a draw in [0, 1) always finds one.
        self.thresholds = tuple(_cumulative(shares.values()))[:-1]
        document, self.prefix = DOCUMENTS[category]
        self.common = {
            "schema_version": SCHEMA_VERSION,
            "kind": Kind.TRAVELLER,
            "port_code": port.code,
            "direction": direction,
            "inspection_mode": port.inspection_mode,
            "category": category,
            "document_type": document,
        }
        self.key = (port.code, direction, category)

    def build(self, released_at: datetime, hour: int, ref: Callable[[str, str], str]) -> TravellerCrossing:
        """The next event, released at `released_at` in local hour `hour`."""
        rng = self.rng
        channel = self.channels[bisect(self.thresholds, rng.random()) if self.thresholds else 0]
        service = timedelta(seconds=rng.lognormvariate(channel.mu, channel.sigma))
        mean_wait = channel.mean_wait_s[hour]
        wait = timedelta(seconds=rng.expovariate(1 / mean_wait) if mean_wait else 0.0)
        started = released_at - service
        # from_trusted skips validation: every field is valid by construction (registry
        # port and lanes, ordered UTC times, a ref from the Pseudonymiser); tests validate.
        return TravellerCrossing.from_trusted(
            event_id=uuid.UUID(int=rng.getrandbits(128), version=4),
            lane_id=channel.lane_ids[int(rng.random() * len(channel.lane_ids))],
            channel_type=channel.channel_type,
            queued_at=started - wait,
            inspection_started_at=started,
            released_at=released_at,
            subject_ref=ref("document", f"{self.prefix}{int(rng.random() * DOCUMENT_NUMBERS):08d}"),
            **self.common,
        )


class ReplaySource(Source):
    """Traveller crossings replayed from the HK daily passenger traffic CSV over
    [date_from, date_to] (local days), `scale` x the published counts, in `released_at` order."""

    def __init__(
        self,
        path: Path | str,
        date_from: date | None = None,
        date_to: date | None = None,
        scale: Scale = 1,
        *,
        ports: PortRegistry | None = None,
        pseudonymiser: Pseudonymiser,
        seed: int = 0,
    ) -> None:
        self.path = Path(path)
        self.date_from, self.date_to = date_from, date_to
        self.scale: Fraction = exact_scale(scale)
        if not 0 < self.scale <= MAX_SCALE:
            raise ValueError(f"scale must be > 0 and at most {MAX_SCALE}, got {float(self.scale):g}")
        self.seed = seed
        self._ports = ports if ports is not None else load_ports()
        for port in self._ports:
            if port.hk_control_point and Kind.TRAVELLER not in port.kinds:
                raise ValueError(
                    f"port {port.code} is the counterpart of {port.hk_control_point!r} but does not clear travellers"
                )
        self._pseudonymiser = pseudonymiser
        rows, self.rejections = read_hk_statistics(self.path, date_from, date_to)
        self._days: dict[date, list[tuple[Port, DailyTraffic]]] = defaultdict(list)
        self._skipped: Counter[str] = Counter()
        for row in rows:
            port = self._ports.for_hk_control_point(row.control_point)
            if port is None:
                self._skipped[row.control_point] += row.total
            else:
                self._days[row.day].append((port, row))
        self._emitted: Counter[tuple[str, Direction, TravellerCategory]] = Counter()

    def expected_counts(self) -> dict[tuple[date, str, Direction, TravellerCategory], int]:
        """The number of events each day x port x direction x category must yield."""
        return {
            (day, port.code, row.direction, category): scaled_count(count, self.scale)
            for day, entries in self._days.items()
            for port, row in entries
            for category, count in row.counts.items()
        }

    def events(self) -> Iterator[Crossing]:
        """The events, day by day and hour by hour, each hour sorted by `released_at`."""
        self._emitted.clear()
        ref = self._pseudonymiser.ref
        for day in sorted(self._days):
            start = datetime.combine(day, time(0), SHENZHEN_TZ).astimezone(UTC)
            plans = self._plan_day(day)
            for hour in range(24):
                # Release instants in whole microseconds after midnight, uniform over the
                # open part [low, high) of the hour, so none spills into the next hour.
                batch: list[tuple[int, int]] = []
                for index, (stream, shares, windows) in enumerate(plans):
                    share = shares[hour]
                    if share:
                        low, high = windows[hour]
                        span, random_ = (high - low) * _US, stream.rng.random
                        batch.extend((low * _US + int(random_() * span), index) for _ in range(share))
                batch.sort()
                emitted = self._emitted
                for offset_us, index in batch:
                    stream = plans[index][0]
                    emitted[stream.key] += 1
                    yield stream.build(start + timedelta(microseconds=offset_us), hour, ref)

    def _plan_day(self, day: date) -> list[tuple[_Stream, list[int], list[tuple[int, int]]]]:
        """Per stream of the day: its events per local hour and the open seconds of each hour."""
        groups: dict[tuple[str, Direction], list[DailyTraffic]] = defaultdict(list)
        ports: dict[str, Port] = {}
        for port, row in self._days[day]:
            groups[port.code, row.direction].append(row)
            ports[port.code] = port
        plans = []
        for (code, direction), rows in sorted(groups.items()):
            port = ports[code]
            weights, windows = _open_profile(port, direction)
            weight_sum = sum(weights)
            lanes = port.lanes[Kind.TRAVELLER][direction]
            category_channels = {category: _channel_shares(lanes, category) for category in TravellerCategory}
            arrivals: dict[ChannelType, list[float]] = {channel: [0.0] * 24 for channel in lanes}
            for row in rows:
                for category, count in row.counts.items():
                    for channel, share in category_channels[category].items():
                        per_hour = arrivals[channel]
                        for hour in range(24):
                            per_hour[hour] += count * share * weights[hour] / weight_sum
            channels = {
                channel: _channel(direction, channel, n_lanes, arrivals[channel])
                for channel, n_lanes in sorted(lanes.items())
            }
            for row in rows:
                for category, count in row.counts.items():
                    n = scaled_count(count, self.scale)
                    if not n:
                        continue
                    shares = {channels[ch]: p for ch, p in category_channels[category].items()}
                    stream = _Stream(self.seed, day, port, direction, category, shares)
                    plans.append((stream, apportion(n, weights), windows))
        return plans

    def summary(self) -> dict[str, Any]:
        """Events per port, direction and category; skipped control points with their counts;
        rejected lines with the reasons."""
        by_port: dict[str, dict[str, dict[str, int]]] = {}
        for (code, direction, category), n in sorted(self._emitted.items()):
            counts = by_port.setdefault(code, {}).setdefault(direction.value, {"events": 0})
            counts["events"] += n
            counts[category.value] = n
        return {
            "source": "replay",
            "path": str(self.path),
            "from": self.date_from.isoformat() if self.date_from else None,
            "to": self.date_to.isoformat() if self.date_to else None,
            "scale": float(self.scale),
            "seed": self.seed,
            "days": len(self._days),
            "events": sum(self._emitted.values()),
            "by_port": by_port,
            "skipped": dict(sorted(self._skipped.items())),
            "rejected": [{"line": r.line, "reason": r.reason} for r in self.rejections],
        }


def _open_profile(port: Port, direction: Direction) -> tuple[list[float], list[tuple[int, int]]]:
    """The hourly weights restricted to the open part of each hour, and that open part as
    (from, to) seconds after local midnight (an empty span for a closed hour)."""
    hours = port.opening_hours[Kind.TRAVELLER]
    opens, closes = (0, _DAY_S)
    if hours is not None:
        # A close of 00:00 is midnight at the end of the day.
        opens, closes = _seconds(hours[0]), _seconds(hours[1]) or _DAY_S
    profile = hourly_weights(Kind.TRAVELLER, direction)
    windows = [(max(hour * _HOUR_S, opens), min((hour + 1) * _HOUR_S, closes)) for hour in range(24)]
    open_fraction = [max(high - low, 0) / _HOUR_S for low, high in windows]
    weights = [w * f for w, f in zip(profile, open_fraction, strict=True)]
    if not any(weights):
        weights = open_fraction
    return weights, windows


def _seconds(at: time) -> int:
    return at.hour * _HOUR_S + at.minute * 60


def _channel_shares(lanes: Mapping[ChannelType, int], category: TravellerCategory) -> dict[ChannelType, float]:
    """How a category spreads over the channel types: in proportion to their capacity, but
    foreign travellers at manual counters only (where the port has them)."""
    if category == TravellerCategory.FOREIGN and ChannelType.MANUAL_COUNTER in lanes:
        return {ChannelType.MANUAL_COUNTER: 1.0}
    capacity = {ch: n / SERVICE_TIMES[ch].mean_s for ch, n in sorted(lanes.items())}
    total = sum(capacity.values())
    return {ch: c / total for ch, c in capacity.items()}


def _channel(direction: Direction, channel: ChannelType, lanes: int, arrivals: list[float]) -> _Channel:
    """A channel type with its lane ids (the simulator's format) and the mean queue wait in
    each local hour, given the hour's real arrivals at it."""
    service = SERVICE_TIMES[channel]
    capacity_per_hour = lanes * _HOUR_S / service.mean_s
    waits = []
    for per_hour in arrivals:
        rho = min(per_hour / capacity_per_hour, MAX_UTILISATION)
        waits.append(service.mean_s * rho / (1 - rho))
    mu, sigma = service.mu_sigma
    return _Channel(
        channel_type=channel,
        lane_ids=tuple(f"{direction}-{channel}-{n:02d}" for n in range(1, lanes + 1)),
        mu=mu,
        sigma=sigma,
        mean_wait_s=tuple(waits),
    )


def _cumulative(values: Collection[float]) -> Iterator[float]:
    total, running = sum(values), 0.0
    for value in values:
        running += value
        yield running / total
