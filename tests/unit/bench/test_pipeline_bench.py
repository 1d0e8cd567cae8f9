"""The pure parts of `make bench`: the raw-limit report, offsets to times, windows, targets."""

import pytest

from bench.pipeline import (
    TARGETS,
    loaded_crossings,
    parse_consumer_performance,
    queryable_at,
    summary,
    targets,
    window_start_s,
)

# ConsumerPerformance 4.1.1 output, a warning between the header and the values
REPORT = """start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
WARNING: Exiting before consuming the expected number of messages: timeout (2000 ms) exceeded.
2026-11-27 05:40:56:034, 2026-11-27 05:40:58:231, 12.5000, 5.6895, 40000, 18206.6454, 3035, 812, 15.3941, 49261.0837
"""


def test_consumer_performance_report():
    figures = parse_consumer_performance(REPORT)
    assert figures["data.consumed.in.nMsg"] == 40000
    assert figures["fetch.time.ms"] == 812
    assert figures["fetch.nMsg.sec"] == pytest.approx(49261.0837)
    assert "start.time" not in figures


def test_consumer_performance_without_report():
    with pytest.raises(ValueError, match="no ConsumerPerformance report"):
        parse_consumer_performance("Exception in thread main: no broker\n")


def test_queryable_when_the_committed_offset_passes_the_record():
    commits = [(10.0, 5), (11.0, 9), (12.5, 20)]
    assert queryable_at(commits, 0) == 10.0
    assert queryable_at(commits, 4) == 10.0
    assert queryable_at(commits, 5) == 11.0  # committed 5 = next to read: offset 5 not yet in
    assert queryable_at(commits, 19) == 12.5
    assert queryable_at(commits, 20) is None
    assert queryable_at([], 0) is None


def test_window_start_of_a_key():
    assert window_start_s(b"1970-01-01T00:02:00Z/LUOHU/traveller/exit/e-channel") == 120.0


def test_loaded_crossings_reads_the_last_stats_line(tmp_path):
    log = tmp_path / "loader.log"
    assert loaded_crossings(log) == 0
    log.write_text(
        "loaded 0 rows (0 rows/s) ; lag 0\n"
        "loaded 130 rows (9 rows/s) crossings=120 throughput_windows=10; lag 3\n"
        "loaded 260 rows (9 rows/s) crossings=240 throughput_windows=20; lag 0\n"
    )
    assert loaded_crossings(log) == 240


def test_summary_and_targets():
    assert summary([]) == {"measured": 0, "p50": None, "p99": None, "max": None}
    assert summary([3.0, 1.0, 2.0]) == {"measured": 3, "p50": 2.0, "p99": 2.0, "max": 3.0}
    verdict = targets(
        {
            "job_events_per_s": 20_544,
            "end_to_end_events_per_s": 13_338,
            "ours_to_peer_ratio": None,
            "pipeline_to_raw_ratio": 0.0165,
            "freshness_p99_s_beyond_window_close": 1.24,
            "freshness_p99_s_produced_to_queryable": 2.5,
            "taskmanager_peak_rss_mb": 1228.1,
        }
    )
    assert {name: row["met"] for name, row in verdict.items()} == {
        "job_events_per_s": False,
        "end_to_end_events_per_s": False,
        "ours_to_peer_ratio": False,
        "pipeline_to_raw_ratio": False,
        "freshness_p99_s_beyond_window_close": True,
        "freshness_p99_s_produced_to_queryable": False,
        "taskmanager_peak_rss_mb": True,
    }
    assert verdict["end_to_end_events_per_s"] == {"target": "at least 30000", "measured": 13_338, "met": False}
    assert targets({})["taskmanager_peak_rss_mb"]["met"] is False
    exactly = {name: bound for name, (bound, _) in TARGETS.items()}
    assert all(row["met"] for row in targets(exactly).values())
