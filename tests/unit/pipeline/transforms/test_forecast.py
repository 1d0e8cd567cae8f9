"""The clearance forecast on hand-made queues whose answer Little's law gives."""

from __future__ import annotations

import pytest

from pipeline.transforms.forecast import (
    MINUTES_PER_DAY,
    EarlyWarning,
    MinuteAggregates,
    Profile,
    diversion_advice,
    forecast,
    learn_profile,
    p90,
    profiles_from_json,
    profiles_to_json,
    warning_episodes,
)

pytestmark = pytest.mark.unit

SERVICE_S = 60.0  # one subject a minute per lane
LANES = ("lane-1", "lane-2")
USUAL_P90_S = 90.0


def profile(arrivals_per_min: float) -> Profile:
    return Profile(
        arrivals=(arrivals_per_min,) * MINUTES_PER_DAY,
        usual_p90_s=(USUAL_P90_S,) * MINUTES_PER_DAY,
        lane_service_s=dict.fromkeys(LANES, SERVICE_S),
    )


def steady(t: int, clearance_s: float, arrivals_per_min: int, lanes=LANES) -> MinuteAggregates:
    """Minutes before `t`: each releases one subject per lane with `clearance_s`, and
    `arrivals_per_min` subjects arrive per minute (released or not)."""
    agg = MinuteAggregates()
    for m in range(t - 60, t):
        for lane in lanes:
            agg.releases.setdefault(m, []).append(clearance_s)
            agg.lanes.setdefault(m, set()).add(lane)
        agg.arrivals[m] = arrivals_per_min
    return agg


def test_a_queue_growing_at_a_known_rate_gives_littles_law() -> None:
    # 2 lanes clear 2/min; 3/min arrive (the profile says 3 and 3 are seen): the queue grows by
    # 1/min. Now a 10-minute excess wait = 20 queued beyond the usual, as of 10 minutes ago.
    t = 600
    agg = steady(t, USUAL_P90_S + 600, 3)
    by_h = {f.horizon_min: f for f in forecast(agg, t, profile(3.0))}
    for h, f in by_h.items():
        assert f.capacity_per_min == pytest.approx(2.0)
        assert f.arrival_ratio == pytest.approx(1.0)
        # the cohort released at t + h arrived at a = t + h - w with queue 20 + (a - (t - 10)),
        # and waited w = queue / 2 (Little's law): w = (30 + h - w) / 2, so w = (30 + h) / 3
        wait_min = (30 + h) / 3
        assert f.p90_s == pytest.approx(USUAL_P90_S + wait_min * 60, abs=60)


def test_a_queue_drains_at_the_spare_capacity() -> None:
    # 1/min arrive, 2/min cleared: a 20-minute excess wait = 40 queued as of 20 minutes ago,
    # draining at 1/min. The cohort released at t + 15 arrived at a = t + 15 - w with queue
    # 40 - (a - (t - 20)) = 5 + w and waited w = (5 + w) / 2: 5 minutes. By t + 30 none is left.
    t = 600
    agg = steady(t, USUAL_P90_S + 1200, 1)
    by_h = {f.horizon_min: f for f in forecast(agg, t, profile(1.0))}
    assert by_h[15].p90_s == pytest.approx(USUAL_P90_S + 5 * 60, abs=60)
    assert by_h[30].p90_s == pytest.approx(USUAL_P90_S)
    assert by_h[60].p90_s == pytest.approx(USUAL_P90_S)


def test_a_steady_queue_forecasts_its_current_wait() -> None:
    # 2/min arrive and 2/min are cleared: a 10-minute excess wait (20 queued) stays 10 minutes
    t = 600
    agg = steady(t, USUAL_P90_S + 600, 2)
    for f in forecast(agg, t, profile(2.0)):
        assert f.p90_s == pytest.approx(USUAL_P90_S + 600)
        assert f.queue == pytest.approx(20.0)


def test_without_a_queue_the_forecast_is_the_usual_p90() -> None:
    t = 600
    agg = steady(t, USUAL_P90_S, 1)
    assert [f.p90_s for f in forecast(agg, t, profile(1.0))] == [USUAL_P90_S] * 3


def test_closed_lanes_lower_the_capacity_and_raise_the_forecast() -> None:
    t = 600
    both = forecast(steady(t, USUAL_P90_S + 600, 3), t, profile(3.0))
    one = forecast(steady(t, USUAL_P90_S + 600, 3, lanes=LANES[:1]), t, profile(3.0))
    assert one[0].capacity_per_min == pytest.approx(1.0)
    assert all(o.p90_s > b.p90_s for o, b in zip(one, both, strict=True))


def test_a_surge_above_the_profile_raises_the_forecast() -> None:
    t = 600
    usual = forecast(steady(t, USUAL_P90_S + 600, 2), t, profile(2.0))
    surge = forecast(steady(t, USUAL_P90_S + 600, 4), t, profile(2.0))
    assert surge[1].arrival_ratio > 1.5
    assert surge[1].p90_s > usual[1].p90_s + 600


def test_learnt_profile_drops_the_slowest_service_times_and_counts_arrivals() -> None:
    days = []
    for _ in range(2):
        day = MinuteAggregates()
        for m in range(MINUTES_PER_DAY):
            for _ in range(6):
                day.add(m, m, 120.0, "lane-1")
        days.append(day)
    learnt = learn_profile(days, {"lane-1": [60.0] * 9 + [3600.0]})
    assert learnt.lane_service_s == {"lane-1": 60.0}
    assert learnt.arrivals[720] == pytest.approx(6.0)
    assert learnt.usual_p90_s[720] == 120.0


def test_p90_is_the_nearest_rank() -> None:
    assert p90(list(range(1, 11))) == 9
    assert p90([]) is None


THRESHOLD_S = 1000.0


def test_the_early_warning_needs_3_consecutive_minutes_above_and_resolves_after_5_below() -> None:
    above, near, below = THRESHOLD_S + 1, THRESHOLD_S * 0.9, THRESHOLD_S * 0.5
    # 2 above, a dip, 3 above: raised at the third of those (minute 5)
    series = [above, above, near, above, above, above, near]
    # near the threshold (above 80 %) keeps it open; 4 below do not resolve, the 5th does
    series += [below] * 4 + [near] + [below] * 5
    assert warning_episodes(series, THRESHOLD_S) == [(5, 16)]
    assert warning_episodes([above, above, below, above, above], THRESHOLD_S) == []


def test_the_early_warning_gives_one_raised_and_one_resolved_of_severity_early_warning() -> None:
    rule = EarlyWarning(THRESHOLD_S)
    events = [rule.step(m, THRESHOLD_S * 2) for m in range(5)]
    events += [rule.step(m, None, port_open=m < 7) for m in range(5, 12)]
    raised, resolved = [e for e in events if e is not None]
    assert (raised.state, raised.minute, raised.severity, raised.episode_type) == (
        "raised",
        2,
        "early-warning",
        "forecast",
    )
    assert (resolved.state, resolved.minute, resolved.started_at) == ("resolved", 9, 2)
    assert resolved.peak_forecast_s == THRESHOLD_S * 2
    # a closed port raises nothing, whatever the forecast
    closed = EarlyWarning(THRESHOLD_S)
    assert all(closed.step(m, THRESHOLD_S * 2, port_open=False) is None for m in range(10))


def test_the_advice_names_the_peer_port_with_the_lowest_forecast() -> None:
    forecasts = {"HUANGGANG": 3600.0, "LIANTANG": 1500.0, "SHENZHEN_BAY": 900.0, "LUOHU": 60.0}
    advice = diversion_advice("HUANGGANG", "truck", forecasts)
    assert advice is not None
    assert (advice.port_code, advice.forecast_s, advice.difference_min) == ("SHENZHEN_BAY", 900.0, 45.0)
    # travellers: Luohu is a peer of Shenzhen Bay, Liantang is not
    traveller = diversion_advice("SHENZHEN_BAY", "traveller", {"SHENZHEN_BAY": 900.0, "LUOHU": 600.0, "LIANTANG": 60.0})
    assert traveller is not None and (traveller.port_code, traveller.difference_min) == ("LUOHU", 5.0)
    # no advice when the port is already the lowest, or has no peers
    assert diversion_advice("SHENZHEN_BAY", "truck", forecasts) is None
    assert diversion_advice("LUOHU", "truck", forecasts) is None


def test_profiles_round_trip_through_their_json():
    profile = Profile(tuple(float(m % 7) for m in range(MINUTES_PER_DAY)), (300.0,) * MINUTES_PER_DAY, {"L1": 42.5})
    assert profiles_from_json(profiles_to_json({("LUOHU", "traveller", "entry"): profile})) == {
        ("LUOHU", "traveller", "entry"): profile
    }
    with pytest.raises(ValueError, match="LUOHU/traveller/entry"):
        profiles_from_json(profiles_to_json({("LUOHU", "traveller", "entry"): Profile((1.0,), (1.0,), {})}))
