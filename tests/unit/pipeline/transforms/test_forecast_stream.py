"""The forecast on the stream: the keyed logic (`add_minute`, `issue`) on hand-made minute rows
as the process function's timers drive it, against `forecast()` and the early warning rule of
the model called directly; and the SQL minute aggregates against MinuteAggregates built in
Python from the same events."""

from __future__ import annotations

import heapq
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from pyflink.common import Row, Types, WatermarkStrategy
from pyflink.common.watermark_strategy import TimestampAssigner

from deploy.services.settings import FlinkSettings
from pipeline.runtime import stream_environments
from pipeline.transforms.forecast import (
    MINUTES_PER_DAY,
    WARNING_HORIZON_MIN,
    MinuteAggregates,
    Profile,
    diversion_advice,
    forecast,
    profiles_to_json,
    warning_episodes,
)
from pipeline.transforms.forecast_stream import (
    ALERTS_TAG,
    CLEAN_COLUMNS,
    DAY_OFFSET_MIN,
    EPISODE_NAMESPACE,
    FORECAST_ROW,
    LAST_HORIZON_MIN,
    ForecastFunction,
    KeyState,
    MinuteRow,
    add_minute,
    clean_watermark,
    fire,
    iso_minute,
    minute_aggregates,
    minute_key,
)
from schemas.outputs import Alert, ClearanceForecast
from schemas.ports import load_ports
from schemas.privacy import PrivacySettings

from .conftest import collect, json_table

KIND, DIRECTION = "truck", "exit"
PEERS = ("HUANGGANG", "LIANTANG", "SHENZHEN_BAY")
LANES = ("lane-1", "lane-2")
USUAL_S = 600.0
BASE = int(datetime(2024, 5, 1, 2, tzinfo=UTC).timestamp()) // 60  # 10:00 in Shenzhen
REGISTRY = load_ports()
THRESHOLD_S = {code: REGISTRY.get(code).clearance_threshold_s[KIND] for code in PEERS}

Crossing = tuple[str, int, int, float, str]  # port, queued minute, released minute, clearance s, lane


def profile() -> Profile:
    return Profile((2.0,) * MINUTES_PER_DAY, (USUAL_S,) * MINUTES_PER_DAY, dict.fromkeys(LANES, 60.0))


PROFILES = {(code, KIND, DIRECTION): profile() for code in PEERS}


def releases(port: str, minutes: range, clearance_s) -> list[Crossing]:
    """One crossing per lane per minute, each waited `clearance_s(minute)`."""
    return [
        (port, m - round(clearance_s(m) / 60), m, clearance_s(m) + 0.25 * i, lane)
        for m in minutes
        for i, lane in enumerate(LANES)
    ]


def scenario() -> list[Crossing]:
    """Huanggang's trucks queue 5000 s beyond the usual for 30 minutes, then clear as usual;
    Liantang stops releasing 40 minutes before the others; Shenzhen Bay runs a little slow."""

    def huanggang(m: int) -> float:
        return USUAL_S + 5000 if BASE + 20 <= m < BASE + 50 else USUAL_S

    return [
        *releases("HUANGGANG", range(BASE - 40, BASE + 90), huanggang),
        *releases("LIANTANG", range(BASE - 40, BASE + 50), lambda m: USUAL_S - 60),
        *releases("SHENZHEN_BAY", range(BASE - 40, BASE + 90), lambda m: USUAL_S + 120),
    ]


def rows_of(crossings: list[Crossing]) -> dict[int, list[MinuteRow]]:
    """The minute rows of `minute_aggregates`, by minute."""
    grouped: dict[tuple[int, str], list[Crossing]] = defaultdict(list)
    for crossing in crossings:
        grouped[(crossing[2], crossing[0])].append(crossing)
    by_minute: dict[int, list[MinuteRow]] = defaultdict(list)
    for (minute, port), group in sorted(grouped.items()):
        by_minute[minute].append(
            MinuteRow(port, minute, [c[3] for c in group], [c[1] for c in group], [c[4] for c in group])
        )
    return by_minute


def run(crossings: list[Crossing], jump: int) -> tuple[list[dict], list[dict], list[int]]:
    """The keyed logic as ForecastFunction runs it, the watermark passing `jump` minutes with
    releases at once: their rows come first, then the timers up to the minute after them, each
    timer setting the next; after the last row, the final watermark fires every timer left.
    Returns the forecasts, alerts and timers fired."""
    state = KeyState()
    timers: list[int] = []
    fired, forecasts, alerts = [], [], []

    def fire_until(until: float) -> None:
        while timers and timers[0] <= until:
            t = heapq.heappop(timers)
            while timers and timers[0] == t:  # a timer set twice fires once
                heapq.heappop(timers)
            fired.append(t)
            issued = fire(state, KIND, DIRECTION, t, PROFILES, REGISTRY)
            forecasts.extend(issued.forecasts)
            alerts.extend(issued.alerts)
            if issued.next_minute is not None:
                heapq.heappush(timers, issued.next_minute)

    by_minute = rows_of(crossings)
    minutes = sorted(by_minute)
    for i in range(0, len(minutes), jump):
        for minute in minutes[i : i + jump]:
            for row in by_minute[minute]:
                heapq.heappush(timers, add_minute(state.ports, row, THRESHOLD_S[row.port_code]))
        fire_until(minutes[min(i + jump, len(minutes)) - 1] + 1)
    fire_until(float("inf"))
    return forecasts, alerts, fired


def direct(crossings: list[Crossing]) -> dict[str, dict[int, list]]:
    """Per port, `forecast()` at every minute up to the longest horizon after a minute with
    releases, on the crossings released before it."""
    result: dict[str, dict[int, list]] = {}
    for port in PEERS:
        mine = sorted((c for c in crossings if c[0] == port), key=lambda c: c[2])
        data_minutes = {c[2] for c in mine}
        issued = sorted({t for m in data_minutes for t in range(m + 1, m + LAST_HORIZON_MIN + 1)})
        agg, i, result[port] = MinuteAggregates(), 0, {}
        for t in issued:
            while i < len(mine) and mine[i][2] < t:
                _, queued, released, clearance, lane = mine[i]
                agg.add(queued, released, clearance, lane)
                i += 1
            result[port][t] = forecast(agg, t, PROFILES[(port, KIND, DIRECTION)], day_offset_min=DAY_OFFSET_MIN)
    return result


@pytest.fixture(scope="module", params=[1, 7], ids=["minute-by-minute", "watermark-jumps-7-min"])
def runs(request):
    crossings = scenario()
    return crossings, run(crossings, request.param), direct(crossings)


def test_each_minute_of_each_port_gets_the_forecasts_of_the_model(runs):
    crossings, (forecasts, _, _), expected = runs
    got = {(f["port_code"], f["issued_at"], f["horizon_min"]): f for f in forecasts}
    assert len(got) == len(forecasts)  # one per port, minute and horizon
    assert len(got) == sum(len(results) for by_t in expected.values() for results in by_t.values())
    for port, by_t in expected.items():
        for t, results in by_t.items():
            for result in results:
                message = ClearanceForecast.model_validate(got[(port, iso_minute(t), result.horizon_min)])
                assert message.p90_s == pytest.approx(result.p90_s, rel=1e-12)
                assert (message.queue, message.capacity_per_min, message.arrival_ratio) == pytest.approx(
                    (result.queue, result.capacity_per_min, result.arrival_ratio), rel=1e-12
                )
                assert message.target_at == datetime.fromtimestamp((t + result.horizon_min) * 60, UTC)
                assert message.usual_p90_s == USUAL_S
    assert {f["kind"] for f in forecasts} == {KIND} and {f["direction"] for f in forecasts} == {DIRECTION}


def test_an_early_warning_is_raised_after_three_minutes_above_with_the_lowest_peer_as_advice(runs):
    _, (_, alerts, _), expected = runs
    in_30 = {
        port: {t: next(r.p90_s for r in results if r.horizon_min == WARNING_HORIZON_MIN) for t, results in by_t.items()}
        for port, by_t in expected.items()
    }
    series = in_30["HUANGGANG"]
    first = min(series)
    episodes = warning_episodes([series[t] for t in sorted(series)], THRESHOLD_S["HUANGGANG"], first)
    assert len(episodes) == 1 and episodes[0][1] is not None  # the scenario raises and resolves one
    (raised_at, resolved_at) = episodes[0]
    assert all(series[t] > THRESHOLD_S["HUANGGANG"] for t in range(raised_at - 2, raised_at + 1))
    assert series[raised_at - 3] <= THRESHOLD_S["HUANGGANG"]

    raised, resolved = (Alert.model_validate(a) for a in alerts)
    assert [a["port_code"] for a in alerts] == ["HUANGGANG", "HUANGGANG"]
    assert (raised.state, resolved.state) == ("raised", "resolved")
    assert (
        raised.episode_id
        == resolved.episode_id
        == uuid.uuid5(EPISODE_NAMESPACE, f"HUANGGANG/{KIND}/{DIRECTION}/{iso_minute(raised_at)}/forecast")
    )
    assert raised.started_at == resolved.started_at == datetime.fromtimestamp(raised_at * 60, UTC)
    assert raised.ended_at is None and resolved.ended_at == datetime.fromtimestamp(resolved_at * 60, UTC)
    assert (raised.severity, raised.episode_type, raised.threshold_s) == ("early-warning", "forecast", 3600)
    assert raised.peak_p90_s == series[raised_at]
    assert resolved.peak_p90_s == max(series[t] for t in range(raised_at, resolved_at + 1))

    peers_then = {port: in_30[port].get(raised_at) for port in PEERS}
    lowest = min((p for p in PEERS if p != "HUANGGANG" and peers_then[p] is not None), key=peers_then.get)
    assert raised.advice_port_code == lowest
    assert raised.advice_forecast_s == peers_then[lowest]
    assert raised.advice_difference_min == round((series[raised_at] - peers_then[lowest]) / 60, 1)
    # resolved: the advice of that minute, None where no peer forecasts less
    advice = diversion_advice("HUANGGANG", KIND, {port: in_30[port].get(resolved_at) for port in PEERS})
    assert resolved.advice_port_code == (advice.port_code if advice else None)


def test_timers_stop_the_longest_horizon_after_the_last_release(runs):
    crossings, (forecasts, _, fired), _ = runs
    last = {port: max(c[2] for c in crossings if c[0] == port) for port in PEERS}
    issued = defaultdict(set)
    for f in forecasts:
        issued[f["port_code"]].add(f["issued_at"])
    for port in PEERS:
        # Liantang stops 60 minutes after its last release although the others go on
        assert max(issued[port]) == iso_minute(last[port] + LAST_HORIZON_MIN)
    assert fired == list(range(min(c[2] for c in crossings) + 1, max(last.values()) + LAST_HORIZON_MIN + 1))


def test_a_replay_gives_the_same_messages_whatever_the_watermark_steps(runs):
    crossings, (forecasts, alerts, _), _ = runs
    again_forecasts, again_alerts, _ = run(crossings, 3)
    assert (again_forecasts, again_alerts) == (forecasts, alerts)


@pytest.mark.parametrize("jump", [1, 7])
def test_a_quiet_hour_between_releases_is_forecast_only_up_to_the_longest_horizon(jump):
    gap = 90  # minutes without a release
    crossings = [
        *releases("LIANTANG", range(BASE, BASE + 10), lambda m: USUAL_S),
        *releases("LIANTANG", range(BASE + 10 + gap, BASE + 20 + gap), lambda m: USUAL_S),
    ]
    forecasts, _, fired = run(crossings, jump)
    minutes = sorted({f["issued_at"] for f in forecasts})
    expected = sorted(
        {iso_minute(t) for m in {c[2] for c in crossings} for t in range(m + 1, m + LAST_HORIZON_MIN + 1)}
    )
    assert minutes == expected
    assert iso_minute(BASE + 10 + LAST_HORIZON_MIN + 1) not in minutes  # the quiet minutes past the horizon
    assert len(fired) == len(set(fired)) == len(expected)


def test_a_late_timer_catches_up_and_one_of_a_minute_already_issued_gives_nothing():
    crossings = releases("LIANTANG", range(BASE, BASE + 10), lambda m: USUAL_S)
    state = KeyState()
    for row in (row for rows in rows_of(crossings).values() for row in rows):
        add_minute(state.ports, row, THRESHOLD_S[row.port_code])

    def minutes(issued) -> list[str]:
        return sorted({f["issued_at"] for f in issued.forecasts})

    # PyFlink hands a registered timer to the JVM after the bundle: it may fire late, or again
    assert minutes(fire(state, KIND, DIRECTION, BASE + 5, PROFILES, REGISTRY)) == [
        iso_minute(t) for t in range(BASE + 1, BASE + 6)
    ]
    caught_up = fire(state, KIND, DIRECTION, BASE + 8, PROFILES, REGISTRY)
    assert minutes(caught_up) == [iso_minute(t) for t in (BASE + 6, BASE + 7, BASE + 8)]
    assert caught_up.next_minute == BASE + 9
    again = fire(state, KIND, DIRECTION, BASE + 7, PROFILES, REGISTRY)
    assert (again.forecasts, again.alerts, again.next_minute) == ([], [], None)


class _MinuteTime(TimestampAssigner):
    """A minute row's event time: the end of its window, as `minute_aggregates` gives it."""

    def extract_timestamp(self, value, record_timestamp) -> int:
        return (value.minute + 1) * 60_000 - 1


def test_the_process_function_in_flink_gives_what_the_logic_gives():
    """ForecastFunction in the mini-cluster on the scenario's minute rows (the watermark far
    ahead of the rows and timers handed over a bundle late): each forecast once, the same alerts."""
    crossings = scenario()
    names = ["port_code", "kind", "direction", "minute", "clearances_us", "queued_minutes", "lanes"]
    rows = [
        Row(
            row.port_code,
            KIND,
            DIRECTION,
            row.minute,
            ",".join(str(round(c * 1_000_000)) for c in row.clearances_s),
            ",".join(map(str, row.queued_minutes)),
            ",".join(row.lanes),
        )
        for _, by_minute in sorted(rows_of(crossings).items())
        for row in by_minute
    ]
    types = [Types.STRING()] * 3 + [Types.LONG()] + [Types.STRING()] * 3
    env, _ = stream_environments(FlinkSettings(), PrivacySettings(), 2)
    stream = env.from_collection(rows, type_info=Types.ROW_NAMED(names, types)).assign_timestamps_and_watermarks(
        WatermarkStrategy.for_monotonous_timestamps().with_timestamp_assigner(_MinuteTime())
    )
    out = stream.key_by(minute_key, key_type=Types.STRING()).process(
        ForecastFunction(profiles_to_json(PROFILES)), output_type=FORECAST_ROW
    )
    alerts = out.get_side_output(ALERTS_TAG).map(lambda r: ("alert", tuple(r)), output_type=Types.PICKLED_BYTE_ARRAY())
    forecasts = out.map(lambda r: ("forecast", tuple(r)), output_type=Types.PICKLED_BYTE_ARRAY())
    with forecasts.union(alerts).execute_and_collect() as results:
        got = list(results)

    want_forecasts, want_alerts, _ = run(crossings, 1)
    assert sorted(r for kind, r in got if kind == "forecast") == sorted(
        tuple(f[name] for name in ClearanceForecast.model_fields) for f in want_forecasts
    )
    assert [r for kind, r in got if kind == "alert"] == [
        tuple(a[name] for name in Alert.model_fields) for a in want_alerts
    ]
    assert want_alerts  # the scenario raises and resolves a warning


# --- the SQL minute aggregates ------------------------------------------------------------------


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def clean_events() -> list[dict]:
    """Clean crossings of two ports and kinds over a quarter of an hour, in released_at order:
    fractions of a second or none (the first released on a minute's first instant), queued up
    to 8 minutes before."""
    start = datetime(2024, 5, 1, 2, 0, tzinfo=UTC)
    events = []
    for i in range(120):
        port = ("HUANGGANG", "LUOHU")[i % 2]
        released = start + timedelta(seconds=7.3 * i, microseconds=(i * 7919) % 1_000_000 if i % 5 else 0)
        queued = released - timedelta(seconds=37 * (i % 13) + 0.5, microseconds=(i * 104729) % 1_000_000)
        events.append(
            {
                "port_code": port,
                "kind": "truck" if port == "HUANGGANG" else "traveller",
                "direction": ("entry", "exit")[i % 3 == 0],
                "lane_id": f"lane-{i % 4}",
                "queued_at": iso(queued),
                "released_at": iso(released),
            }
        )
    return events


def test_the_minute_aggregates_hold_what_minute_aggregates_add_takes(table_env, tmp_path):
    events = clean_events()
    expected: dict[tuple, MinuteAggregates] = defaultdict(MinuteAggregates)
    for e in events:
        released = datetime.fromisoformat(e["released_at"])
        queued = datetime.fromisoformat(e["queued_at"])
        key = (e["port_code"], e["kind"], e["direction"])
        expected[key].add(
            int(queued.timestamp() // 60),
            int(released.timestamp() // 60),
            (released - queued).total_seconds(),
            e["lane_id"],
        )

    clean = json_table(table_env, tmp_path, f"{CLEAN_COLUMNS}, {clean_watermark(0)}", events)
    got: dict[tuple, MinuteAggregates] = defaultdict(MinuteAggregates)
    for row in collect(minute_aggregates(table_env, clean)):
        parsed = MinuteRow.of(SimpleNamespace(**row))
        for queued, clearance, lane in zip(parsed.queued_minutes, parsed.clearances_s, parsed.lanes, strict=True):
            got[(row["port_code"], row["kind"], row["direction"])].add(queued, parsed.minute, clearance, lane)

    assert got.keys() == expected.keys()
    for key, want in expected.items():
        assert got[key].arrivals == want.arrivals, key
        assert got[key].lanes == want.lanes, key
        # exact to the bit, as Python computes a timedelta's seconds; order within a minute is free
        assert {m: sorted(v) for m, v in got[key].releases.items()} == {
            m: sorted(v) for m, v in want.releases.items()
        }, key
    assert sum(len(v) for agg in got.values() for v in agg.releases.values()) == len(events)
