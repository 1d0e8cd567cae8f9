"""The spike-alert state machine (ALERT_EPISODES, in the JVM) on hand-made clearance windows:
hysteresis, severity, missing slides, slides of few crossings, closed ports, late updates."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pipeline.transforms.alerts import alert_episodes
from schemas.ports import MIN_WINDOW_CROSSINGS, load_ports

from .conftest import collect, json_table

PORT, KIND = "LUOHU", "traveller"
THRESHOLD = load_ports().get(PORT).clearance_threshold_s[KIND]
START = datetime(2024, 5, 1, 8, 0)  # UTC, 16:00 at the port: open
CLOSED = datetime(2024, 5, 1, 17, 0)  # 01:00 at the port: closed
WINDOW_COLUMNS = (
    "window_start TIMESTAMP(3), port_code STRING, kind STRING, direction STRING, p90_s DOUBLE, "
    "crossings BIGINT, WATERMARK FOR window_start AS window_start"
)


def window(end: datetime, fraction: float, crossings: int = 40) -> dict:
    return {
        "window_start": f"{end - timedelta(minutes=5):%Y-%m-%d %H:%M:%S}",
        "port_code": PORT,
        "kind": KIND,
        "direction": "entry",
        "p90_s": fraction * THRESHOLD,
        "crossings": crossings,
    }


def episodes(
    table_env, tmp_path, fractions: list[float | None], start: datetime = START, crossings: int = 40
) -> list[dict]:
    """The alerts of one window ending each minute from `start`, p90 = fraction x threshold
    (None: no window)."""
    rows = [
        window(start + timedelta(minutes=minute), fraction, crossings)
        for minute, fraction in enumerate(fractions)
        if fraction is not None
    ]
    return collect(alert_episodes(table_env, json_table(table_env, tmp_path, WINDOW_COLUMNS, rows)))


def test_a_surge_raises_once_after_three_slides_and_resolves_once_after_five_below(table_env, tmp_path):
    alerts = episodes(table_env, tmp_path, [0.5, 1.2, 1.3, 1.5, 1.6, 1.1, 0.7, 0.5, 0.3, 0.2, 0.2, 0.2])
    assert [a["state"] for a in alerts] == ["raised", "resolved"]
    raised, resolved = alerts
    assert raised["episode_id"] == resolved["episode_id"]
    assert raised["started_at"] == "2024-05-01T08:01:00Z"  # the first slide above
    assert raised["ended_at"] is None
    assert resolved["ended_at"] == "2024-05-01T08:06:00Z"  # the first of the five below 80 %
    assert raised["peak_p90_s"] == pytest.approx(1.5 * THRESHOLD)  # the peak so far when raised
    assert resolved["peak_p90_s"] == pytest.approx(1.6 * THRESHOLD)
    assert raised["severity"] == resolved["severity"] == "warning"
    assert raised["threshold_s"] == THRESHOLD
    assert (raised["port_code"], raised["kind"], raised["direction"]) == (PORT, KIND, "entry")


def test_severity_is_critical_above_twice_the_threshold(table_env, tmp_path):
    alerts = episodes(table_env, tmp_path, [1.2, 2.2, 1.2] + [0.2] * 5)
    assert [(a["state"], a["severity"]) for a in alerts] == [("raised", "critical"), ("resolved", "critical")]


def test_noise_around_the_threshold_does_not_flap(table_env, tmp_path):
    noise = [1.08, 1.03, 0.97, 1.02, 1.07, 0.98, 1.01, 0.99, 1.05, 1.002, 0.93] * 3  # never 3 above in a row
    assert episodes(table_env, tmp_path, noise) == []


def test_slides_between_80_percent_and_the_threshold_keep_an_episode_open(table_env, tmp_path):
    # 0.98 is below the threshold but not below 80 % of it: the run of five restarts
    alerts = episodes(table_env, tmp_path, [1.2] * 3 + [0.7] * 4 + [0.98] + [0.7] * 5)
    assert [(a["state"], a["ended_at"]) for a in alerts] == [("raised", None), ("resolved", "2024-05-01T08:08:00Z")]


def test_missing_slides_count_as_below_and_the_watermark_resolves_without_a_new_slide(table_env, tmp_path):
    alerts = episodes(table_env, tmp_path, [1.2, 1.2, 1.2])  # then nothing: the input's end passes them
    assert [(a["state"], a["ended_at"]) for a in alerts] == [("raised", None), ("resolved", "2024-05-01T08:03:00Z")]
    alerts = episodes(table_env, tmp_path, [1.2, 1.2, 1.2, None, None, 1.3, 1.3, 1.3])
    assert [a["state"] for a in alerts] == ["raised", "resolved"]  # two missing are not five


def test_slides_of_too_few_crossings_count_as_below(table_env, tmp_path):
    assert episodes(table_env, tmp_path, [8.0] * 10, crossings=MIN_WINDOW_CROSSINGS - 1) == []
    alerts = episodes(table_env, tmp_path, [8.0] * 3, crossings=MIN_WINDOW_CROSSINGS)
    assert [a["state"] for a in alerts] == ["raised", "resolved"]


def test_a_closed_port_raises_nothing(table_env, tmp_path):
    assert episodes(table_env, tmp_path, [8.0] * 5, start=CLOSED) == []


def test_the_latest_update_of_a_window_counts(table_env, tmp_path):
    """Late events update a window before the watermark passes its end: its last value counts."""
    ends = [START + timedelta(minutes=k) for k in range(12)]
    rows = [row for end in ends[:3] for row in (window(end, 1.2), window(end, 0.5))]
    rows += [window(end, 0.5) for end in ends[3:]]
    assert collect(alert_episodes(table_env, json_table(table_env, tmp_path, WINDOW_COLUMNS, rows))) == []
