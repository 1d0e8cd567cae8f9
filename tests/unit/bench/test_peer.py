"""The Quix Streams peer's pure logic against the pipeline's own rules, and the comparison of
its windows with the job's; no Kafka, no quixstreams (it lives in its own virtualenv)."""

import random
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from pydantic import ValidationError

from bench.chaos.expected import dead_letter_class, percentile, windows
from bench.job import window_key
from bench.peer import compare, peer_section, tool, window_id
from bench.peers import crossings_logic as peer
from connectors.kafka.topics import CLEARANCE, RAW_TOPICS, THROUGHPUT
from pipeline.jobs.settings import PipelineSettings
from schemas.events import parse_crossing
from tests.integration.pipeline.crossings_data import invalid_records, simulated_day

SKEW_S = PipelineSettings().skew_tolerance_s


@pytest.fixture(scope="module")
def day():
    return simulated_day(0.002, seed=3)


def pipeline_class(value: bytes, now: datetime) -> str | None:
    """The dead-letter class the pipeline gives a raw record (the job tests' reference)."""
    try:
        event = parse_crossing(value)
        if event.released_at > now + timedelta(seconds=SKEW_S):
            raise ValueError("clock-skew")
    except (ValidationError, ValueError) as error:
        return dead_letter_class(type("Record", (), {"value": value})(), error)
    return None


def peer_class(value: bytes, now: datetime) -> str | None:
    try:
        payload = orjson.loads(value)
    except orjson.JSONDecodeError:
        return "malformed-json"  # the peer's JSON deserializer rejects it before validation
    return peer.reason_class(payload, now, SKEW_S)


def test_the_peer_reads_the_raw_topics():
    assert peer.RAW_TOPICS == tuple(spec.name for spec in RAW_TOPICS.values())


def test_valid_events_pass(day):
    now = datetime.now(UTC)
    assert [peer_class(event.to_json(), now) for event in day] == [None] * len(day)


def test_invalid_records_get_the_pipelines_class(day):
    now = datetime.now(UTC)
    traveller = next(event for event in day if event.kind.value == "traveller")
    truck = next(event for event in day if event.kind.value == "truck")
    records = invalid_records(traveller, truck, now)
    expected = [pipeline_class(record.value, now) for record in records]
    assert None not in expected
    assert [peer_class(record.value, now) for record in records] == expected


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"schema_version": 2}, "invalid-field"),
        ({"lane_id": "-lane"}, "invalid-field"),
        ({"inspection_mode": "co-location"}, "invalid-field"),
        ({"channel_type": "freight-lane"}, "invalid-field"),
        ({"kind": "pedestrian"}, "invalid-field"),
    ],
)
def test_field_rules_give_the_pipelines_class(day, change, reason):
    value = orjson.dumps({**traveller_payload(day), **change})
    now = datetime.now(UTC)
    assert peer_class(value, now) == pipeline_class(value, now) == reason


@pytest.mark.parametrize(
    "change, reason",
    [
        ({"released_at": "2024-05-01T08:00:00+08:00"}, "invalid-field"),
        ({"kind": None}, "missing-field"),
        ({"category": None}, "missing-field"),
    ],
)
def test_where_the_job_is_stricter_than_the_models(day, change, reason):
    """The job's SQL rules (which the peer ports) want times in UTC with 'Z' and read a JSON
    null as an absent field; the models accept any offset and call a null invalid."""
    assert peer_class(orjson.dumps({**traveller_payload(day), **change}), datetime.now(UTC)) == reason


def traveller_payload(day) -> dict:
    return orjson.loads(next(e for e in day if e.kind.value == "traveller" and e.port_code != "SHENZHEN_BAY").to_json())


def test_truck_weight_rule(day):
    now = datetime.now(UTC)
    truck = orjson.loads(next(e for e in day if e.kind.value == "truck").to_json())
    for weight, reason in ((0, "invalid-field"), (60_001, "invalid-field"), (60_000, None), (12.5, None)):
        value = orjson.dumps({**truck, "declared_weight_kg": weight})
        assert peer_class(value, now) == pipeline_class(value, now) == reason


def test_windows_equal_the_jobs_reference(day):
    """Window keys, clearance at millisecond precision and the percentiles, as the job's."""
    throughput, clearance = windows(day)
    counted: dict[tuple, int] = {}
    samples: dict[tuple, list[float]] = {}
    for event in day:
        payload = orjson.loads(event.to_json())
        minute = peer.released_ms(payload) // 60_000 * 60_000
        key = (peer.iso(minute), *peer.throughput_key(payload).split("/"))
        counted[key] = counted.get(key, 0) + 1
        for back in range(5):
            samples.setdefault((peer.iso(minute - back * 60_000), *peer.clearance_key(payload).split("/")), []).append(
                peer.clearance_s(payload)
            )
    assert counted == throughput
    figures = {key: peer.clearance_figures(values) for key, values in samples.items()}
    assert figures.keys() == clearance.keys()
    for key, (crossings, mean, p50, p90, p99, maximum) in clearance.items():
        assert figures[key] == pytest.approx(
            {"crossings": crossings, "mean_s": mean, "p50_s": p50, "p90_s": p90, "p99_s": p99, "max_s": maximum},
            abs=1e-9,
        )


def test_percentile_interpolates_as_the_job():
    rng = random.Random(5)
    for size in (1, 2, 3, 10, 101):
        ordered = sorted(rng.uniform(0, 3600) for _ in range(size))
        for p in (0.5, 0.9, 0.99):
            assert peer.percentile(ordered, p) == percentile(ordered, p)
    assert peer.percentile([10.0, 20.0], 0.9) == pytest.approx(19.0)


def test_time_parsing():
    assert peer.parse_time("2024-05-01T08:00:00.1234567Z") == datetime(2024, 5, 1, 8, 0, 0, 123456, UTC)
    assert peer.parse_time("2024-13-01T08:00:00Z") is None
    assert peer.parse_time("2024-05-01 08:00:00Z") is None
    assert peer.millis(datetime(1970, 1, 1, 0, 0, 1, 999, UTC)) == 1000


JOB_THROUGHPUT = {
    "window_start": "2024-05-01T00:00:00Z",
    "window_end": "2024-05-01T00:01:00Z",
    "port_code": "LUOHU",
    "kind": "traveller",
    "direction": "exit",
    "channel_type": "e-channel",
    "crossings": 7,
}
JOB_CLEARANCE = {
    "window_start": "2024-05-01T00:00:00Z",
    "window_end": "2024-05-01T00:05:00Z",
    "port_code": "LUOHU",
    "kind": "traveller",
    "direction": "exit",
    "crossings": 3,
    "mean_s": 20.0,
    "p50_s": 20.0,
    "p90_s": 28.0,
    "p99_s": 29.8,
    "max_s": 30.0,
}


def peer_report(throughput: list[dict], clearance: list[dict]) -> dict:
    return {
        "consumed": 100,
        "malformed": 0,
        "late": 0,
        "events_per_s": 50,
        "elapsed_s": 2.0,
        "elapsed_with_startup_s": 12.0,
        "throughput": throughput,
        "clearance": clearance,
    }


def test_window_ids_name_the_jobs_windows():
    assert window_id(JOB_THROUGHPUT).encode() == window_key(JOB_THROUGHPUT)
    assert window_id(JOB_CLEARANCE) == "2024-05-01T00:00:00Z/LUOHU/traveller/exit"


def test_compare_counts_equal_and_different_windows():
    ours = {
        THROUGHPUT.name: {window_id(JOB_THROUGHPUT): JOB_THROUGHPUT},
        CLEARANCE.name: {window_id(JOB_CLEARANCE): JOB_CLEARANCE},
    }
    same_clearance = {
        "window_start": "2024-05-01T00:00:00Z",
        "key": "LUOHU/traveller/exit",
        "crossings": 3,
        "mean_s": 20.0,
        "p50_s": 20.0,
        "p90_s": 28.0 + 1e-9,
        "p99_s": 29.8,
        "max_s": 30.0,
    }
    same = peer_report(
        [{"window_start": "2024-05-01T00:00:00Z", "key": "LUOHU/traveller/exit/e-channel", "crossings": 7}],
        [same_clearance],
    )
    assert compare(same, ours) == {"windows_compared": 2, "mismatches": 0, "mismatch_examples": []}

    different = peer_report(
        [
            {"window_start": "2024-05-01T00:00:00Z", "key": "LUOHU/traveller/exit/e-channel", "crossings": 8},
            {"window_start": "2024-05-01T00:01:00Z", "key": "LUOHU/traveller/exit/e-channel", "crossings": 1},
        ],
        [{**same_clearance, "p99_s": 29.9}],
    )
    checked = compare(different, ours)
    assert (checked["windows_compared"], checked["mismatches"]) == (3, 3)
    assert checked["mismatch_examples"][1]["job"] is None


def test_peer_section():
    section = peer_section(peer_report([], []), {"windows_compared": 0, "mismatches": 0}, 200)
    assert section["tool"] == tool() == "quixstreams 3.28.1"
    assert (section["events_per_s"], section["ours_to_peer_ratio"], section["startup_s"]) == (50, 4.0, 10.0)
