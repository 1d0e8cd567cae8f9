"""The traffic simulator: determinism, valid events, queueing, scenarios, pacing, calibration."""

from __future__ import annotations

import csv
import itertools
import json
import math
import re
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from connectors.sources.base import paced
from connectors.sources.scenarios import (
    SCENARIOS,
    LaneClosure,
    PortClosure,
    Scenario,
    Surge,
    scenario_by_name,
)
from connectors.sources.simulator import (
    SERVICE_TIMES,
    TRAVELLER_CATEGORY_SHARES,
    SimulatorSource,
    cbp_manual_counter_service_s,
)
from schemas.events import (
    ChannelType,
    Crossing,
    Direction,
    Kind,
    TravellerCategory,
    TravellerCrossing,
    parse_crossing,
)
from schemas.ports import SHENZHEN_TZ, load_ports
from schemas.privacy import Pseudonymiser

KEY = SecretStr("c0c95ced7b4961de94cdc7d7762e5adba7b56f18fae5d6a596c2c3ecb74f9d6c")  # 32 bytes, hex
MIDNIGHT = datetime(2024, 5, 1, tzinfo=SHENZHEN_TZ)
SHARED_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"
CBP_CSV = SHARED_DATA / "cbp-airport-wait-times-ORD-T5-2019.csv"
IMMD_CSV = SHARED_DATA / "hk-immd-daily-passenger-traffic-2021-01-01_2025-06-30.csv"
IMMD_CATEGORY_COLUMNS = ("Hong Kong Residents", "Mainland Visitors", "Other Visitors")
TRAVELLER_THRESHOLD_S = load_ports().get("SHENZHEN_BAY").clearance_threshold_s[Kind.TRAVELLER]
TRUCK_THRESHOLD_S = load_ports().get("HUANGGANG").clearance_threshold_s[Kind.TRUCK]


def simulate(start: datetime = MIDNIGHT, hours: float = 24, **options: object) -> SimulatorSource:
    options.setdefault("seed", 7)
    return SimulatorSource(start, hours, pseudonymiser=Pseudonymiser(KEY), **options)  # type: ignore[arg-type]


def run(start: datetime = MIDNIGHT, hours: float = 24, **options: object) -> list[Crossing]:
    return list(simulate(start, hours, **options).events())


def local(hh: int, mm: int = 0) -> datetime:
    return MIDNIGHT.replace(hour=hh, minute=mm)


def p90(values: Iterable[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def p90_by_release_minute(events: Iterable[Crossing]) -> dict[datetime, float]:
    by_minute: dict[datetime, list[float]] = defaultdict(list)
    for event in events:
        by_minute[event.released_at.replace(second=0, microsecond=0)].append(event.clearance_s)
    return {minute: p90(values) for minute, values in sorted(by_minute.items())}


Day = tuple[SimulatorSource, list[Crossing]]


@pytest.fixture(scope="module")
def day() -> Day:
    """Every port for a day at 1 % of the volumes."""
    source = simulate(scale=0.01)
    return source, list(source.events())


# -- determinism and validity -----------------------------------------------------------------


def test_a_seed_fixes_every_event_and_another_seed_changes_them() -> None:
    options = {"port_codes": ["HUANGGANG"], "scale": 0.05}
    first = [event.to_json() for event in run(**options)]
    assert first == [event.to_json() for event in run(**options)]
    other = run(**options, seed=8)
    assert {e.event_id for e in other}.isdisjoint(parse_crossing(j).event_id for j in first)
    assert [e.released_at for e in other] != [parse_crossing(j).released_at for j in first]


def test_a_scenario_changes_only_the_queues_it_touches() -> None:
    options = {"port_codes": ["HUANGGANG", "SHENZHEN_BAY"], "scale": 0.02}
    normal, surge = run(**options), run(**options, scenario="surge")
    assert [e for e in normal if e.port_code == "HUANGGANG"] == [e for e in surge if e.port_code == "HUANGGANG"]
    assert [e for e in normal if e.port_code == "SHENZHEN_BAY"] != [e for e in surge if e.port_code == "SHENZHEN_BAY"]


def test_events_come_in_released_at_order(day: Day) -> None:
    _, events = day
    assert {e.kind for e in events} == set(Kind)
    assert all(a.released_at <= b.released_at for a, b in itertools.pairwise(events))


def test_every_event_validates_and_round_trips(day: Day) -> None:
    _, events = day
    for event in events:
        assert parse_crossing(event.to_json()) == event


def test_events_hold_refs_never_identifiers(day: Day) -> None:
    _, events = day
    identifier = re.compile(r"[A-Z]\d{8}|\d{12}|粤Z\d{5}港")  # the synthesised shapes
    refs = 0
    for event in events:
        for name, value in event.model_dump(mode="json").items():
            assert not (isinstance(value, str) and identifier.fullmatch(value)), name
            if name.endswith("_ref"):
                refs += 1
                assert re.fullmatch(r"[0-9a-f]{32}", value)
    assert refs >= len(events)


def test_arrivals_only_while_the_port_is_open(day: Day) -> None:
    _, events = day
    ports = load_ports()
    assert all(ports.is_open(e.port_code, e.kind, e.queued_at) for e in events)
    assert not any(e.port_code == "LIANTANG" and e.queued_at < local(7) for e in events)


def test_a_day_brings_the_scaled_daily_volume(day: Day) -> None:
    _, events = day
    expected = 0.01 * sum(
        volume
        for port in load_ports()
        for by_direction in port.daily_volume.values()
        for volume in by_direction.values()
    )
    assert abs(len(events) - expected) < 0.05 * expected


def test_traveller_categories_follow_the_shares(day: Day) -> None:
    _, events = day
    travellers = [e for e in events if isinstance(e, TravellerCrossing)]
    counts = Counter(e.category for e in travellers)
    for category, share in TRAVELLER_CATEGORY_SHARES.items():
        assert abs(counts[category] / len(travellers) - share) < 0.02
    assert all(
        e.channel_type == ChannelType.MANUAL_COUNTER for e in travellers if e.category == TravellerCategory.FOREIGN
    )


def test_summary_counts_what_was_yielded(day: Day) -> None:
    source, events = day
    summary = json.loads(json.dumps(source.summary()))
    assert summary["events"] == len(events)
    assert summary["by_kind"] == dict(Counter(e.kind.value for e in events))
    by_port = Counter((e.port_code, e.kind.value) for e in events)
    assert {(port, kind): n for port, kinds in summary["by_port"].items() for kind, n in kinds.items() if n} == dict(
        by_port
    )
    assert summary["scenario"] == "normal" and summary["effects"] == []


# -- queueing --------------------------------------------------------------------------------

CONGESTED = Scenario(
    name="congested",
    effects=(
        Surge(port="WENJINDU", kind=Kind.TRAVELLER, direction=Direction.EXIT, factor=25,
              start=time(8), end=time(10)),
        LaneClosure(port="WENJINDU", kind=Kind.TRAVELLER, direction=Direction.EXIT,
                    channel_type=ChannelType.E_CHANNEL, lanes_closed=6,
                    start=time(9), end=time(11)),
    ),
)  # fmt: skip


def test_clearance_is_wait_plus_service_in_a_fifo_multi_server_queue() -> None:
    events = run(
        local(7), 6, scenario=CONGESTED, port_codes=["WENJINDU"], kinds=[Kind.TRAVELLER],
        directions=[Direction.EXIT],
    )  # fmt: skip
    lanes = load_ports().get("WENJINDU").lanes[Kind.TRAVELLER][Direction.EXIT]
    closure = CONGESTED.effects[1]
    e_lanes = lanes[ChannelType.E_CHANNEL]  # a closure takes the last lanes
    closed_lanes = {f"exit-e-channel-{n:02d}" for n in range(e_lanes - closure.lanes_closed + 1, e_lanes + 1)}
    waited = 0
    for channel, n_lanes in lanes.items():
        queue = sorted((e for e in events if e.channel_type == channel), key=lambda e: e.queued_at)
        starts = [e.inspection_started_at for e in queue]
        assert starts == sorted(starts)  # first come, first served
        by_lane: dict[str, list[Crossing]] = defaultdict(list)
        for event in sorted(queue, key=lambda e: e.inspection_started_at):
            by_lane[event.lane_id].append(event)
        assert len(by_lane) == n_lanes
        lane_starts = {}
        for lane_id, served in by_lane.items():  # a lane serves one subject at a time
            assert all(a.released_at <= b.inspection_started_at for a, b in itertools.pairwise(served))
            lane_starts[lane_id] = [e.inspection_started_at for e in served]
        for event in queue:
            wait = (event.inspection_started_at - event.queued_at).total_seconds()
            service = (event.released_at - event.inspection_started_at).total_seconds()
            assert event.clearance_s == pytest.approx(wait + service, abs=1e-6)
            if wait <= 0:
                continue
            waited += 1
            # a subject waits only while every open lane is busy
            during_closure = local(9) <= event.queued_at < local(11)
            for lane_id, served in by_lane.items():
                if channel == ChannelType.E_CHANNEL and during_closure and lane_id in closed_lanes:
                    continue
                i = bisect_right(lane_starts[lane_id], event.queued_at) - 1
                assert i >= 0 and served[i].released_at > event.queued_at
    assert waited > 100
    assert not any(
        e.lane_id in closed_lanes and local(9) <= e.inspection_started_at < local(11)
        for e in events
        if e.channel_type == closure.channel_type
    )


def test_surge_pushes_the_p90_past_the_threshold_then_recovers() -> None:
    options = {
        "port_codes": ["SHENZHEN_BAY"],
        "kinds": [Kind.TRAVELLER],
        "directions": [Direction.EXIT],
    }
    surge = run(local(8), 4, scenario="surge", **options)
    normal = run(local(9), 1.5, scenario="normal", **options)  # the heart of the morning peak
    by_minute = p90_by_release_minute(surge)
    over = [minute for minute, value in by_minute.items() if value > TRAVELLER_THRESHOLD_S]
    consecutive = [b - a == timedelta(minutes=2) for a, b in zip(over, over[2:], strict=False)]
    assert any(consecutive)  # three minutes in a row at least
    assert all(v < TRAVELLER_THRESHOLD_S for m, v in by_minute.items() if m >= local(11, 30))
    assert max(p90_by_release_minute(normal).values()) < TRAVELLER_THRESHOLD_S
    in_surge_hour = [e.clearance_s for e in surge if local(9) <= e.released_at < local(10)]
    same_hour = [e.clearance_s for e in normal if local(9) <= e.released_at < local(10)]
    assert p90(in_surge_hour) > 5 * p90(same_hour)


def test_lane_closure_raises_clearance() -> None:
    options = {"port_codes": ["HUANGGANG"], "kinds": [Kind.TRUCK], "directions": [Direction.EXIT]}
    demo = simulate(local(12), 6, scenario="demo-day", **options)
    closed = [e.clearance_s for e in demo.events() if local(13) <= e.queued_at < local(17)]
    normal = [e.clearance_s for e in run(local(12), 6, **options) if local(13) <= e.queued_at < local(17)]
    assert p90(closed) > TRUCK_THRESHOLD_S > p90(normal)
    (effect,) = (e for e in demo.summary()["effects"] if e["effect"].startswith("lane-closure"))
    assert effect["events"] == len(closed) and effect["p90_clearance_s"] > TRUCK_THRESHOLD_S


def test_scaled_lanes_keep_the_surge_alert_with_a_tenth_of_the_events() -> None:
    options = {"port_codes": ["SHENZHEN_BAY"], "kinds": [Kind.TRAVELLER], "directions": [Direction.EXIT]}
    full = run(local(8), 6, scenario="surge", **options)
    tenth = run(local(8), 6, scenario="surge", scale=0.1, scale_lanes=True, **options)
    assert 0.08 < len(tenth) / len(full) < 0.12
    # 30 e-channels and 25 counters become 3 and 2 (rounded half to even): 5 lanes in all
    assert {e.lane_id for e in tenth} == {
        *(f"exit-e-channel-{n:02d}" for n in (1, 2, 3)),
        "exit-manual-counter-01",
        "exit-manual-counter-02",
    }
    by_minute = p90_by_release_minute(tenth)
    over = [minute for minute, value in by_minute.items() if value > TRAVELLER_THRESHOLD_S]
    assert any(b - a == timedelta(minutes=2) for a, b in zip(over, over[2:], strict=False))
    # fewer lanes pool less: the queue drains later than at scale 1 (about 12:15 here, not 11:10)
    assert all(v < TRAVELLER_THRESHOLD_S for m, v in by_minute.items() if m >= local(12, 30))
    unscaled = run(local(8), 4, scenario="surge", scale=0.1, **options)
    assert max(p90_by_release_minute(unscaled).values()) < TRAVELLER_THRESHOLD_S  # 55 lanes: no queue


def test_a_scaled_lane_closure_keeps_the_share_of_lanes_open() -> None:
    options = {
        "port_codes": ["HUANGGANG"],
        "kinds": [Kind.TRUCK],
        "directions": [Direction.EXIT],
        "scale": 0.2,
        "scale_lanes": True,
    }
    demo = list(simulate(local(12), 6, scenario="demo-day", **options).events())
    # 20 lanes -> 4; 2 of 20 open during the closure -> round(0.4) = 0 -> at least 1
    assert {e.lane_id for e in demo} == {f"exit-freight-lane-{n:02d}" for n in range(1, 5)}
    during = {e.lane_id for e in demo if local(13) <= e.inspection_started_at < local(17)}
    assert during == {"exit-freight-lane-01"}


def test_port_closure_stops_arrivals_for_its_hours() -> None:
    source = simulate(local(8), 8, scenario="port-closed", port_codes=["LUOHU"], scale=0.05)
    events = list(source.events())
    assert any(e.queued_at < local(10) for e in events)
    assert any(e.queued_at >= local(14) for e in events)
    assert not any(local(10) <= e.queued_at < local(14) for e in events)
    assert all(e.queued_at < local(10) for e in events if local(10) <= e.released_at < local(14))
    (closure,) = (e for e in source.summary()["effects"] if e["effect"].startswith("port-closure"))
    assert closure["events"] == 0


# -- scenarios -----------------------------------------------------------------------------


def test_named_scenarios_and_an_unknown_name() -> None:
    assert set(SCENARIOS) == {"normal", "surge", "demo-day", "port-closed"}
    assert scenario_by_name("surge").effects[0].port == "SHENZHEN_BAY"
    with pytest.raises(ValueError, match="known scenarios: normal, surge, demo-day, port-closed"):
        scenario_by_name("rush")


def test_effects_are_checked() -> None:
    with pytest.raises(ValidationError, match="must be after start"):
        PortClosure(port="LUOHU", start=time(14), end=time(10))
    assert PortClosure(port="LUOHU", start=time(22), end="24:00").seconds_of_day == (79200, 86400)
    unknown = Scenario(name="x", effects=(PortClosure(port="NOWHERE", start=time(1), end=time(2)),))
    with pytest.raises(KeyError, match="unknown port code 'NOWHERE'"):
        simulate(scenario=unknown)
    every_lane = Scenario(
        name="x",
        effects=(
            LaneClosure(port="WENJINDU", kind=Kind.TRUCK, direction=Direction.EXIT,
                        channel_type=ChannelType.FREIGHT_LANE, lanes_closed=10,
                        start=time(9), end=time(10)),
        ),
    )  # fmt: skip
    with pytest.raises(ValueError, match="one must stay open"):
        simulate(scenario=every_lane)
    no_trucks = Surge(
        port="LUOHU",
        kind=Kind.TRUCK,
        direction=Direction.EXIT,
        factor=2,
        start=time(1),
        end=time(2),
    )
    with pytest.raises(ValueError, match="LUOHU does not clear truck crossings"):
        simulate(scenario=Scenario(name="x", effects=(no_trucks,)))


def test_effects_repeat_every_simulated_day() -> None:
    closure = PortClosure(port="YANTIAN", start=time(2), end=time(4))
    scenario = Scenario(name="x", effects=(closure,))
    events = run(MIDNIGHT, 48, scenario=scenario, port_codes=["YANTIAN"], scale=0.1)
    assert any(e.queued_at >= local(4) + timedelta(days=1) for e in events)
    for day in (0, 1):
        window = (local(2) + timedelta(days=day), local(4) + timedelta(days=day))
        assert not any(window[0] <= e.queued_at < window[1] for e in events)


# -- pacing ----------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_pacing_sleeps_so_event_time_runs_at_speed() -> None:
    fake = FakeClock()
    source = simulate(
        local(8), 1, port_codes=["WENJINDU"], kinds=[Kind.TRUCK], speed=60,
        clock=fake.clock, sleep=fake.sleep,
    )  # fmt: skip
    events = list(source.events())
    assert len(events) > 10
    expected = [(events[0].released_at - local(8)).total_seconds() / 60] + [
        (b.released_at - a.released_at).total_seconds() / 60 for a, b in itertools.pairwise(events)
    ]
    assert fake.sleeps == pytest.approx([s for s in expected if s > 0])
    span_s = (events[-1].released_at - local(8)).total_seconds()
    assert fake.now - 1000.0 == pytest.approx(span_s / 60)


def test_pacing_does_not_sleep_when_behind() -> None:
    fake = FakeClock()
    events = run(local(8), 1, port_codes=["WENJINDU"], kinds=[Kind.TRUCK])

    def slow_clock() -> float:  # every reading is an hour later
        fake.now += 3600
        return fake.now

    assert list(paced(events, 60, clock=slow_clock, sleep=fake.sleep)) == events
    assert fake.sleeps == []
    with pytest.raises(ValueError, match="speed must be > 0"):
        next(paced(events, 0))


# -- calibration against the shared data ---------------------------------------------------


@pytest.mark.skipif(not CBP_CSV.exists(), reason="needs ../shared/data")
def test_manual_counter_service_time_comes_from_cbp_waits() -> None:
    derived = cbp_manual_counter_service_s(CBP_CSV)
    assert derived == pytest.approx(57.8, abs=0.1)
    assert SERVICE_TIMES[ChannelType.MANUAL_COUNTER].mean_s == pytest.approx(derived, rel=0.01)
    busier, calmer = (cbp_manual_counter_service_s(CBP_CSV, wait) for wait in (30, 15))
    assert 45 <= busier <= calmer <= 90  # stable across the choice of "a standing queue"


@pytest.mark.skipif(not IMMD_CSV.exists(), reason="needs ../shared/data")
def test_traveller_category_shares_come_from_the_immd_statistics() -> None:
    land = {p.hk_control_point for p in load_ports() if p.hk_control_point}
    totals = [0, 0, 0]
    with IMMD_CSV.open(encoding="utf-8-sig", newline="") as file:
        for row in csv.DictReader(file):
            if row["Date"].endswith("-2024") and row["Control Point"] in land:
                for i, column in enumerate(IMMD_CATEGORY_COLUMNS):
                    totals[i] += int(row[column])
    shares = dict(zip(TravellerCategory, (t / sum(totals) for t in totals), strict=True))
    for category, share in TRAVELLER_CATEGORY_SHARES.items():
        assert shares[category] == pytest.approx(share, abs=0.001)
