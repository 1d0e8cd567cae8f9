"""Replay of the HK daily passenger traffic: exact counts, skipped and rejected rows, events."""

from __future__ import annotations

import csv
import json
import re
import tempfile
import tracemalloc
from collections import Counter
from datetime import date, datetime
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from connectors.sources.apportion import apportion
from connectors.sources.profiles import hourly_weights
from connectors.sources.replay import (
    KNOWN_HK_CONTROL_POINTS,
    ReplaySource,
    read_hk_statistics,
)
from schemas.events import (
    Direction,
    DocumentType,
    Kind,
    TravellerCategory,
    TravellerCrossing,
    parse_crossing,
)
from schemas.ports import HK_CONTROL_POINTS, SHENZHEN_TZ, load_ports
from schemas.privacy import Pseudonymiser

DATA = Path(__file__).resolve().parents[4] / "shared/data/hk-immd-daily-passenger-traffic-2021-01-01_2025-06-30.csv"
WEEK = (date(2024, 1, 1), date(2024, 1, 7))
WEEK_SCALE = "0.01"
# The counterparts given in the data README.
COUNTERPARTS = {
    "Lo Wu": "LUOHU",
    "Lok Ma Chau Spur Line": "FUTIAN",
    "Lok Ma Chau": "HUANGGANG",
    "Heung Yuen Wai": "LIANTANG",
    "Shenzhen Bay": "SHENZHEN_BAY",
    "Man Kam To": "WENJINDU",
    "Sha Tau Kok": "SHATOUJIAO",
}
CATEGORY_COLUMNS = {
    "Hong Kong Residents": TravellerCategory.HK_MACAO_RESIDENT,
    "Mainland Visitors": TravellerCategory.MAINLAND_RESIDENT,
    "Other Visitors": TravellerCategory.FOREIGN,
}
HEADER = "\ufeffDate,Control Point,Arrival / Departure,Hong Kong Residents,Mainland Visitors,Other Visitors,Total,"
KEY = SecretStr("c0c95ced7b4961de94cdc7d7762e5adba7b56f18fae5d6a596c2c3ecb74f9d6c")  # 32 bytes, hex
# A clear document number as the replay synthesises them: it must never reach an event.
CLEAR_DOCUMENT = re.compile(rb"[HCP]\d{8}")

needs_data = pytest.mark.skipif(not DATA.exists(), reason="needs ../shared/data")


@pytest.fixture(scope="module")
def pseudonymiser() -> Pseudonymiser:
    return Pseudonymiser(KEY)


@pytest.fixture(scope="module")
def week(pseudonymiser: Pseudonymiser) -> tuple[ReplaySource, list[TravellerCrossing]]:
    source = ReplaySource(DATA, *WEEK, WEEK_SCALE, pseudonymiser=pseudonymiser, seed=7)
    return source, list(source.events())


def write_csv(folder: Path, rows: list[str]) -> Path:
    """A file in the format of the statistics: BOM, CRLF, a trailing comma on every line."""
    path = folder / "traffic.csv"
    path.write_bytes("".join(f"{line}\r\n" for line in [HEADER, *rows]).encode())
    return path


def local_key(event: TravellerCrossing) -> tuple[date, str, Direction, TravellerCategory]:
    day = event.released_at.astimezone(SHENZHEN_TZ).date()
    return day, event.port_code, event.direction, event.category


@pytest.fixture(scope="module")
def from_the_file() -> tuple[Counter, Counter]:
    """Straight from the CSV for the week: round-half-even(count x scale) per day, port,
    direction and category, and the travellers of each control point without a counterpart."""
    expected: Counter = Counter()
    skipped: Counter = Counter()
    with DATA.open(encoding="utf-8-sig", newline="") as file:
        for row in csv.DictReader(file):
            day = datetime.strptime(row["Date"], "%d-%m-%Y").date()
            if not WEEK[0] <= day <= WEEK[1]:
                continue
            name = row["Control Point"]
            if name not in COUNTERPARTS:
                skipped[name] += int(row["Total"])
                continue
            arrival = row["Arrival / Departure"] == "Arrival"
            direction = Direction.EXIT if arrival else Direction.ENTRY
            for column, category in CATEGORY_COLUMNS.items():
                n = round(int(row[column]) * Fraction(WEEK_SCALE))
                if n:
                    expected[day, COUNTERPARTS[name], direction, category] = n
    return expected, skipped


@needs_data
def test_a_week_yields_round_half_even_of_count_times_scale_for_every_stream(week, from_the_file) -> None:
    source, events = week
    expected, _ = from_the_file
    assert Counter(map(local_key, events)) == expected
    assert {k: n for k, n in source.expected_counts().items() if n} == expected
    assert source.summary()["events"] == len(events) == sum(expected.values())


@needs_data
def test_events_come_in_released_at_order_within_opening_hours(week) -> None:
    _, events = week
    ports = load_ports()
    released = [event.released_at for event in events]
    assert released == sorted(released)
    assert all(ports.is_open(e.port_code, Kind.TRAVELLER, e.released_at) for e in events)


@needs_data
def test_a_round_the_clock_port_follows_the_hour_profile_exactly(week) -> None:
    source, events = week
    key = (date(2024, 1, 3), "HUANGGANG", Direction.EXIT, TravellerCategory.HK_MACAO_RESIDENT)
    per_hour = Counter(e.released_at.astimezone(SHENZHEN_TZ).hour for e in events if local_key(e) == key)
    shares = apportion(source.expected_counts()[key], hourly_weights(Kind.TRAVELLER, key[2]))
    assert [per_hour[hour] for hour in range(24)] == shares


@needs_data
def test_events_validate_and_hold_refs_only(week, pseudonymiser: Pseudonymiser) -> None:
    _, events = week
    documents = {
        TravellerCategory.HK_MACAO_RESIDENT: DocumentType.HOME_RETURN_PERMIT,
        TravellerCategory.MAINLAND_RESIDENT: DocumentType.EXIT_ENTRY_PERMIT,
        TravellerCategory.FOREIGN: DocumentType.PASSPORT,
    }
    for event in events:
        wire = event.to_json()
        assert parse_crossing(wire) == event
        assert CLEAR_DOCUMENT.search(wire) is None
        assert event.document_type == documents[event.category]
        assert event.queued_at <= event.inspection_started_at <= event.released_at
    assert len({event.event_id for event in events}) == len(events)


@needs_data
def test_skipped_control_points_are_reported_by_name_with_their_counts(week, from_the_file) -> None:
    source, _ = week
    _, skipped = from_the_file
    summary = source.summary()
    assert summary["skipped"] == dict(skipped)
    assert {"Airport", "Hong Kong-Zhuhai-Macao Bridge", "Hung Hom"} <= summary["skipped"].keys()
    assert summary["rejected"] == []
    assert summary["days"] == 7
    luohu_exit = summary["by_port"]["LUOHU"]["exit"]
    categories = [luohu_exit[c.value] for c in TravellerCategory]
    assert luohu_exit["events"] == sum(categories)
    assert "SHATOUJIAO" not in summary["by_port"]  # zero travellers throughout


@needs_data
def test_the_known_control_points_are_those_of_the_real_file() -> None:
    with DATA.open(encoding="utf-8-sig", newline="") as file:
        names = {row["Control Point"] for row in csv.DictReader(file)}
    assert names == KNOWN_HK_CONTROL_POINTS
    assert HK_CONTROL_POINTS <= KNOWN_HK_CONTROL_POINTS


def test_each_kind_of_bad_row_is_reported_with_its_line_and_the_rest_replays(
    tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    path = write_csv(
        tmp_path,
        [
            "01-01-2024,Lo Wu,Arrival,5,15,25,45,",  # 2: good
            "01-01-2024,Lo Wu,Departure,10,20,",  # 3
            "32-01-2024,Lo Wu,Departure,1,2,3,6,",  # 4
            "01-01-2024,Lo Wu West,Departure,1,2,3,6,",  # 5
            "01-01-2024,Shenzhen Bay,Sideways,1,2,3,6,",  # 6
            "01-01-2024,Shenzhen Bay,Arrival,1,x2,3,6,",  # 7
            "01-01-2024,Shenzhen Bay,Departure,1,-2,3,2,",  # 8
            "01-01-2024,Man Kam To,Arrival,1,2,3,7,",  # 9
            "",  # 10: blank, ignored
            "02-01-2024,Airport,Arrival,100,20,3,123,",  # 11: good, no counterpart
            "01-01-2024,Lo Wu,Arrival,5,15,25,45,",  # 12: the same as line 2
            "31-12-2023,Lo Wu,Arrival,1,1,1,9,",  # 13: outside the range, not checked
            "02-01-2024,Lok Ma Chau,Departure,35,0,15,50,",  # 14: good
        ],
    )
    source = ReplaySource(path, date(2024, 1, 1), date(2024, 1, 2), 0.1, pseudonymiser=pseudonymiser)
    expected = [
        (3, "malformed row: expected 7 fields, got 5"),
        (4, "malformed row: bad date '32-01-2024', expected DD-MM-YYYY"),
        (5, "unknown control point 'Lo Wu West'"),
        (6, "unknown direction 'Sideways', expected Arrival or Departure"),
        (7, "malformed row: Mainland Visitors is not an integer: 'x2'"),
        (8, "negative count: Mainland Visitors is -2"),
        (9, "total mismatch: Total is 7 but the categories add up to 6"),
        (12, "duplicate row: Lo Wu Arrival on 01-01-2024 is also at line 2"),
    ]
    assert [(r.line, r.reason) for r in source.rejections] == expected
    assert source.rejections[0].raw == "01-01-2024,Lo Wu,Departure,10,20,"

    events = list(source.events())
    # 5, 15, 25 x 0.1 = 0.5, 1.5, 2.5 -> 0, 2, 2; 35, 0, 15 -> 3.5, 0, 1.5 -> 4, 0, 2.
    assert Counter(map(local_key, events)) == {
        (date(2024, 1, 1), "LUOHU", Direction.EXIT, TravellerCategory.MAINLAND_RESIDENT): 2,
        (date(2024, 1, 1), "LUOHU", Direction.EXIT, TravellerCategory.FOREIGN): 2,
        (date(2024, 1, 2), "HUANGGANG", Direction.ENTRY, TravellerCategory.HK_MACAO_RESIDENT): 4,
        (date(2024, 1, 2), "HUANGGANG", Direction.ENTRY, TravellerCategory.FOREIGN): 2,
    }
    summary = source.summary()
    assert json.loads(json.dumps(summary)) == summary
    assert summary["rejected"] == [{"line": line, "reason": reason} for line, reason in expected]
    assert summary["skipped"] == {"Airport": 123}
    assert summary["by_port"] == {
        "HUANGGANG": {"entry": {"events": 6, "hk-macao-resident": 4, "foreign": 2}},
        "LUOHU": {"exit": {"events": 4, "mainland-resident": 2, "foreign": 2}},
    }


def test_poison_lines_are_rejected_by_line_number_and_the_rest_replays(
    tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    path = write_csv(
        tmp_path,
        [
            "01-01-2024,Lo Wu,Arrival,5,15,25,45,",  # 2: good
            "01-01-2024,Lo Wu," + "x" * 200_000 + ",1,2,3,6,",  # 3: a field over the CSV limit
            "01-01-2024,Shenzhen Bay,Arrival,1,2," + "9" * 5000 + "," + "9" * 5000 + ",",  # 4
            "01-01-2024,Shenzhen Bay,Departure,10000001,0,0,10000001,",  # 5
            "01-01-2024,Lok Ma Chau,Arrival,1,2\r,3,6,",  # 6: a lone CR
            "01-01-2024,Man Kam To,Arrival,1,-" + "2" * 5000 + ",3,6,",  # 7
            "01-01-2024,Lok Ma Chau,Departure,35,0,15,50,",  # 8: good
            "01-01-2024,Lok Ma Chau Spur Line,Arrival," + "0" * 5000 + "7,0,0,7,",  # 9: good, 7
        ],
    )
    source = ReplaySource(path, scale=1, pseudonymiser=pseudonymiser)
    over = "is over 10,000,000 a day at one control point"
    assert [(r.line, r.reason) for r in source.rejections] == [
        (3, "line over the CSV field limit of 131,072 characters"),
        (4, f"implausible count: Other Visitors {over}"),
        (5, f"implausible count: Hong Kong Residents {over}"),
        (6, "lone carriage return (CR) in the line: lines end with LF or CRLF"),
        (7, "negative count: Mainland Visitors is -" + "2" * 39 + "..."),
    ]
    assert source.rejections[0].raw == "01-01-2024,Lo Wu," + "x" * 23
    assert Counter((e.port_code, e.direction) for e in source.events()) == {
        ("LUOHU", Direction.EXIT): 45,
        ("HUANGGANG", Direction.ENTRY): 50,
        ("FUTIAN", Direction.EXIT): 7,
    }


def test_an_endless_line_is_skipped_without_holding_it(tmp_path: Path) -> None:
    path = write_csv(tmp_path, ["01-01-2024,Lo Wu,Arrival,5,15,25,45,"])
    with path.open("a") as file:
        file.write("02-01-2024,Lo Wu,Arrival," + "1" * 30_000_000)  # no line end
    tracemalloc.start()
    try:
        rows, rejections = read_hk_statistics(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [row.line for row in rows] == [2]
    assert [(r.line, r.reason) for r in rejections] == [(3, "line over the CSV field limit of 131,072 characters")]
    assert peak < 5_000_000


@pytest.mark.parametrize("scale", ["10.5", "1e999999999", "1e-999999999"])
def test_a_scale_above_10_is_refused_at_once(tmp_path: Path, pseudonymiser: Pseudonymiser, scale: str) -> None:
    path = write_csv(tmp_path, ["01-01-2024,Lo Wu,Arrival,5,15,25,45,"])
    with pytest.raises(ValueError, match="scale must"):
        ReplaySource(path, scale=scale, pseudonymiser=pseudonymiser)
    assert ReplaySource(path, scale=10, pseudonymiser=pseudonymiser).expected_counts()


def test_a_file_without_the_header_of_the_statistics_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("day,port,count\r\n01-01-2024,Lo Wu,3\r\n")
    with pytest.raises(ValueError, match="not the HK Immigration Department"):
        read_hk_statistics(path)


def test_rows_outside_the_range_are_left_out(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [f"{d:02d}-01-2024,Lo Wu,Arrival,1,2,3,6," for d in range(1, 6)])
    rows, rejections = read_hk_statistics(path, date(2024, 1, 2), date(2024, 1, 4))
    assert [(row.line, row.day.day, row.direction) for row in rows] == [
        (3, 2, Direction.EXIT),
        (4, 3, Direction.EXIT),
        (5, 4, Direction.EXIT),
    ]
    assert rows[0].counts == dict(zip(TravellerCategory, (1, 2, 3), strict=True))
    assert rejections == []
    with pytest.raises(ValueError, match="after"):
        read_hk_statistics(path, date(2024, 1, 4), date(2024, 1, 2))


def test_a_seed_fixes_the_events_and_a_day_does_not_depend_on_the_range(
    tmp_path: Path, pseudonymiser: Pseudonymiser
) -> None:
    path = write_csv(
        tmp_path,
        [
            "01-01-2024,Lo Wu,Arrival,300,200,10,510,",
            "02-01-2024,Lo Wu,Arrival,250,120,5,375,",
            "02-01-2024,Shenzhen Bay,Departure,90,80,7,177,",
        ],
    )

    def run(date_from: date, seed: int) -> list[bytes]:
        source = ReplaySource(path, date_from, date(2024, 1, 2), 1, pseudonymiser=pseudonymiser, seed=seed)
        return [event.to_json() for event in source.events()]

    both_days = run(date(2024, 1, 1), seed=1)
    assert run(date(2024, 1, 1), seed=1) == both_days
    assert run(date(2024, 1, 2), seed=1) == both_days[510:]
    assert set(run(date(2024, 1, 1), seed=2)).isdisjoint(both_days)


def test_bad_arguments_are_refused(tmp_path: Path, pseudonymiser: Pseudonymiser) -> None:
    path = write_csv(tmp_path, [])
    with pytest.raises(ValueError, match="scale"):
        ReplaySource(path, scale=0, pseudonymiser=pseudonymiser)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    counts=st.lists(st.integers(min_value=0, max_value=400), min_size=6, max_size=6),
    scale=st.sampled_from(["0.1", "0.25", "1", "2.5", "0.05", "1.5"]),
)
def test_any_counts_and_scale_replay_exactly(counts: list[int], scale: str) -> None:
    rows = [
        f"05-03-2024,Heung Yuen Wai,Arrival,{counts[0]},{counts[1]},{counts[2]},{sum(counts[:3])},",
        f"05-03-2024,Man Kam To,Departure,{counts[3]},{counts[4]},{counts[5]},{sum(counts[3:])},",
    ]
    with tempfile.TemporaryDirectory() as folder:
        path = write_csv(Path(folder), rows)
        source = ReplaySource(path, scale=scale, pseudonymiser=Pseudonymiser(KEY))
        produced = Counter(map(local_key, source.events()))
    day = date(2024, 3, 5)
    expected = Counter()
    for (code, direction), values in (
        (("LIANTANG", Direction.EXIT), counts[:3]),
        (("WENJINDU", Direction.ENTRY), counts[3:]),
    ):
        for category, count in zip(TravellerCategory, values, strict=True):
            n = round(count * Fraction(scale))
            if n:
                expected[day, code, direction, category] = n
    assert produced == expected
