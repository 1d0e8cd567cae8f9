"""Lateness per port stream and keep-first dedup, in process on hand-made parsed records."""

from __future__ import annotations

from datetime import datetime, timedelta

from pyflink.table.expressions import col

from pipeline.transforms.streams import first_occurrences, mark_lateness

from .conftest import collect, raw_table

OUT_OF_ORDERNESS_S, ALLOWED_LATENESS_S = 30, 60
T0 = datetime(2024, 5, 1, 8, 0)


def record(
    event_id: str,
    at: datetime,
    port: str = "LUOHU",
    topic: str = "crossings.raw.traveller",
    reason: str | None = None,
    payload: str = "",
) -> dict:
    return {
        "reason": reason,
        "event_id": event_id,
        "port_code": port,
        "topic": topic,
        "event_time": f"{at:%Y-%m-%d %H:%M:%S.%f}"[:-3],
        "payload": payload or event_id,
    }


def too_late(table_env, tmp_path, records: list[dict]) -> dict[str, bool]:
    marked = mark_lateness(table_env, raw_table(table_env, tmp_path, records), OUT_OF_ORDERNESS_S, ALLOWED_LATENESS_S)
    return {row["event_id"]: row["too_late"] for row in collect(marked.select(col("event_id"), col("too_late")))}


def test_an_event_is_too_late_past_out_of_orderness_plus_allowed_lateness_behind_its_stream(table_env, tmp_path):
    limit = timedelta(seconds=OUT_OF_ORDERNESS_S + ALLOWED_LATENESS_S)
    assert too_late(
        table_env,
        tmp_path,
        [
            record("first", T0),
            record("newest", T0 + timedelta(minutes=10)),
            record("at-the-limit", T0 + timedelta(minutes=10) - limit),
            record("past-the-limit", T0 + timedelta(minutes=10) - limit - timedelta(milliseconds=1)),
        ],
    ) == {"first": False, "newest": False, "at-the-limit": False, "past-the-limit": True}


def test_streams_are_port_and_topic_apart_and_dead_letters_with_a_time_move_them(table_env, tmp_path):
    late = T0 - timedelta(minutes=30)
    assert too_late(
        table_env,
        tmp_path,
        [
            record("luohu-new", T0),
            record("futian-old", late, port="FUTIAN"),  # another port: its own stream
            record("truck-old", late, topic="crossings.raw.truck"),  # another topic: its own stream
            record("luohu-old", late),
            record("bad-but-timed", T0 + timedelta(hours=1), port="FUTIAN", reason="invalid-field: lane_id"),
            record("futian-after-bad", T0, port="FUTIAN"),
        ],
    ) == {
        "luohu-new": False,
        "futian-old": False,
        "truck-old": False,
        "luohu-old": True,
        "bad-but-timed": False,
        "futian-after-bad": True,
    }


def test_the_first_record_of_each_event_is_kept_and_later_ones_dropped(table_env, tmp_path):
    records = [
        record("a", T0, payload="a-first"),
        record("b", T0, payload="b-first"),
        record("a", T0 + timedelta(seconds=1), payload="a-again"),
        record("c", T0, payload="c-first"),
        record("b", T0 - timedelta(hours=2), payload="b-again"),
        record("a", T0, payload="a-third"),
    ]
    kept = collect(first_occurrences(table_env, raw_table(table_env, tmp_path, records)).select(col("payload")))
    assert sorted(row["payload"] for row in kept) == ["a-first", "b-first", "c-first"]
