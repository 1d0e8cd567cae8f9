"""The spike-alert state machine: hysteresis, severity, missing slides, closed ports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.transforms.alerts import EpisodeTracker
from schemas.ports import MIN_WINDOW_CROSSINGS

THRESHOLD = 600
START = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


def feed(tracker: EpisodeTracker, p90s: list[float | None], start: datetime = START,
         crossings: int = 40) -> list[dict]:
    """One slide a minute from `start`, each of `crossings`; None = the port is closed."""
    alerts = []
    for minute, p90 in enumerate(p90s):
        alerts += tracker.slide(start + timedelta(minutes=minute), p90 or 0.0, crossings, p90 is not None)
    return alerts


def tracker() -> EpisodeTracker:
    return EpisodeTracker("LUOHU", "traveller", "entry", THRESHOLD)


def test_a_surge_raises_once_after_three_slides_and_resolves_once_after_five_below():
    alerts = feed(tracker(), [300, 700, 800, 900, 950, 650, 400, 300, 200, 100, 100, 100])
    assert [a["state"] for a in alerts] == ["raised", "resolved"]
    raised, resolved = alerts
    assert raised["episode_id"] == resolved["episode_id"]
    assert raised["started_at"] == "2024-05-01T08:01:00Z"  # the first slide above
    assert raised["ended_at"] is None
    assert resolved["ended_at"] == "2024-05-01T08:06:00Z"  # the first of the five below 80 %
    assert raised["peak_p90_s"] == 900  # the peak so far when raised
    assert resolved["peak_p90_s"] == 950
    assert raised["severity"] == resolved["severity"] == "warning"
    assert raised["threshold_s"] == THRESHOLD


def test_severity_is_critical_above_twice_the_threshold():
    alerts = feed(tracker(), [700, 1300, 700] + [100] * 5)
    assert [(a["state"], a["severity"]) for a in alerts] == [("raised", "critical"), ("resolved", "critical")]


def test_noise_around_the_threshold_does_not_flap():
    noise = [650, 620, 580, 610, 640, 590, 605, 595, 630, 601, 560] * 3  # never 3 above in a row
    assert feed(tracker(), noise) == []


def test_slides_between_80_percent_and_the_threshold_keep_an_episode_open():
    # 590 is below the threshold but not below 80 % of it (480): the run of five restarts
    alerts = feed(tracker(), [700, 700, 700] + [470, 470, 470, 470, 590, 470, 470, 470, 470])
    assert [a["state"] for a in alerts] == ["raised"]
    alerts = feed(tracker(), [700, 700, 700] + [470, 470, 470, 470, 590, 470, 470, 470, 470, 470])
    assert [(a["state"], a["ended_at"]) for a in alerts] == [
        ("raised", None), ("resolved", "2024-05-01T08:08:00Z")]


def test_missing_slides_count_as_below():
    t = tracker()
    assert [a["state"] for a in feed(t, [700, 700, 700])] == ["raised"]
    # nothing for seven minutes, then a slide: the five missing ones resolve the episode
    alerts = t.slide(START + timedelta(minutes=10), 100, 40, True)
    assert [(a["state"], a["ended_at"]) for a in alerts] == [("resolved", "2024-05-01T08:03:00Z")]


def test_catch_up_resolves_without_a_new_slide():
    t = tracker()
    feed(t, [700, 700, 700])
    assert t.catch_up(START + timedelta(minutes=6)) == []  # four missing slides: not yet
    assert [a["state"] for a in t.catch_up(START + timedelta(minutes=7))] == ["resolved"]
    assert not t.watching


def test_slides_of_too_few_crossings_count_as_below():
    assert feed(tracker(), [5000] * 10, crossings=MIN_WINDOW_CROSSINGS - 1) == []
    assert [a["state"] for a in feed(tracker(), [5000] * 3, crossings=MIN_WINDOW_CROSSINGS)] == ["raised"]
    t = tracker()
    feed(t, [700, 700, 700])
    alerts = feed(t, [5000] * 5, START + timedelta(minutes=3), crossings=1)
    assert [(a["state"], a["peak_p90_s"]) for a in alerts] == [("resolved", 700)]


def test_a_closed_port_raises_nothing():
    assert feed(tracker(), [None, None, None, None, 5000]) == []


def test_state_survives_a_dump_and_restore_and_ids_are_stable():
    first, second = tracker(), tracker()
    feed(first, [700, 700])
    restored = EpisodeTracker.restore(first.dump())
    raised = feed(restored, [700], START + timedelta(minutes=2))
    expected = feed(second, [700, 700, 700])
    assert raised == expected and len(raised) == 1
