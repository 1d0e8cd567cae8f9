"""The clearance forecast on hand-made queues whose answer Little's law gives."""

from __future__ import annotations

import pytest

from pipeline.transforms.forecast import MINUTES_PER_DAY, MinuteAggregates, Profile, forecast, learn_profile, p90

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
