"""Throughput and clearance windows, in process: boundaries, exact figures against the plain
Python recomputation, and late events that update a window after it closed."""

from __future__ import annotations

from datetime import datetime, timedelta

from bench.chaos.expected import percentile
from pipeline.transforms.windows import clearance, clearance_windows, throughput

from .conftest import final_rows, raw_table

TTL_MIN = 60
T0 = datetime(2024, 5, 1, 8, 0)


def crossing(
    at: datetime, clearance_s: float = 60.0, channel: str = "manual", port: str = "LUOHU", direction: str = "entry"
) -> dict:
    return {
        "event_id": f"{at.isoformat()}-{clearance_s}-{channel}-{port}-{direction}",
        "kind": "traveller",
        "port_code": port,
        "direction": direction,
        "channel_type": channel,
        "event_time": f"{at:%Y-%m-%d %H:%M:%S.%f}"[:-3],
        "clearance_ms": round(clearance_s * 1000),
    }


def test_throughput_counts_each_event_in_the_minute_that_holds_it(table_env, tmp_path):
    on_time = raw_table(
        table_env,
        tmp_path,
        [
            crossing(T0),
            crossing(T0 + timedelta(seconds=59.999)),
            crossing(T0 + timedelta(minutes=1)),
            crossing(T0 + timedelta(seconds=30), channel="e-channel"),
            crossing(T0 + timedelta(seconds=30), direction="exit"),
        ],
    )
    windows = final_rows(throughput(table_env, on_time, TTL_MIN), "window_start", "direction", "channel_type")
    assert {key: (row["window_end"], row["crossings"]) for key, row in windows.items()} == {
        ("2024-05-01T08:00:00Z", "entry", "manual"): ("2024-05-01T08:01:00Z", 2),
        ("2024-05-01T08:01:00Z", "entry", "manual"): ("2024-05-01T08:02:00Z", 1),
        ("2024-05-01T08:00:00Z", "entry", "e-channel"): ("2024-05-01T08:01:00Z", 1),
        ("2024-05-01T08:00:00Z", "exit", "manual"): ("2024-05-01T08:01:00Z", 1),
    }


def test_an_event_is_in_the_five_clearance_slides_that_hold_it_with_exact_figures(table_env, tmp_path):
    seconds = [61.0, 5.5, 300.25, 42.0, 42.0, 1800.0, 0.001]
    events = [crossing(T0 + timedelta(minutes=4, seconds=k), clearance_s=s) for k, s in enumerate(seconds)]
    events.append(crossing(T0 + timedelta(minutes=5), clearance_s=7.0))  # the next slide's first
    table = clearance(table_env, clearance_windows(table_env, raw_table(table_env, tmp_path, events), TTL_MIN))
    windows = final_rows(table, "window_start")
    assert sorted(windows) == [(f"2024-05-01T08:0{m}:00Z",) for m in range(6)]
    ordered = sorted(seconds)
    first = windows[("2024-05-01T08:00:00Z",)]
    assert first["window_end"] == "2024-05-01T08:05:00Z"
    assert (first["crossings"], first["max_s"]) == (len(seconds), 1800.0)
    assert first["mean_s"] == sum(seconds) / len(seconds)
    assert [first["p50_s"], first["p90_s"], first["p99_s"]] == [percentile(ordered, p) for p in (0.5, 0.9, 0.99)]
    both = sorted([*seconds, 7.0])
    last_with_both = windows[("2024-05-01T08:04:00Z",)]
    assert (last_with_both["crossings"], last_with_both["p90_s"]) == (len(both), percentile(both, 0.9))
    assert windows[("2024-05-01T08:05:00Z",)]["crossings"] == 1


def test_a_late_event_updates_a_window_that_has_closed(table_env, tmp_path):
    events = [
        crossing(T0 + timedelta(seconds=10), clearance_s=100.0),
        crossing(T0 + timedelta(minutes=20), clearance_s=50.0),  # the watermark passes 08:00-08:05
        crossing(T0 + timedelta(seconds=20), clearance_s=300.0),
    ]  # late for 08:00, still counted
    windows = final_rows(throughput(table_env, raw_table(table_env, tmp_path, events), TTL_MIN), "window_start")
    assert windows[("2024-05-01T08:00:00Z",)]["crossings"] == 2
    table = clearance(table_env, clearance_windows(table_env, raw_table(table_env, tmp_path, events), TTL_MIN))
    slide = final_rows(table, "window_start")[("2024-05-01T08:00:00Z",)]
    assert (slide["crossings"], slide["max_s"], slide["mean_s"]) == (2, 300.0, 200.0)
