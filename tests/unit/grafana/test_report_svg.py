"""The report's SVG chart helpers: scaling, ticks, value formats, escaping, empty data; and the
report's conversion of a time-series result into series."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from connectors.clickhouse import QueryResult
from grafana.report import interval_for, time_series
from grafana.report.svg import DURATION_STEPS, format_value, line_chart, linear, nice_ticks, time_label, time_ticks

SVG = "{http://www.w3.org/2000/svg}"
DAY = (datetime(2025, 11, 3, tzinfo=UTC).timestamp(), datetime(2025, 11, 4, tzinfo=UTC).timestamp())


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # well-formed XML, or this raises


def test_linear_maps_ends_and_middle_and_flips_for_screen_y():
    assert linear(0, (0, 10), (100, 200)) == 100
    assert linear(10, (0, 10), (100, 200)) == 200
    assert linear(2.5, (0, 10), (200, 0)) == 150
    assert linear(7, (3, 3), (0, 50)) == 25  # an empty domain: the middle


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 0.4, [0, 0.1, 0.2, 0.3, 0.4]),
        (0, 7, [0, 2, 4, 6, 8]),
        (-3, 17, [-5, 0, 5, 10, 15, 20]),
        (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1]),  # a flat zero line gets a unit scale
        (5, 5, [4, 4.5, 5, 5.5, 6]),
        (0, 1234, [0, 500, 1000, 1500]),
    ],
)
def test_nice_ticks_are_round_and_cover_the_range(low, high, expected):
    assert nice_ticks(low, high) == pytest.approx(expected)


def test_ticks_of_a_seconds_axis_are_round_minutes():
    assert nice_ticks(0, 1500, steps=DURATION_STEPS) == [0, 300, 600, 900, 1200, 1500]
    with pytest.raises(ValueError, match="above its end"):
        nice_ticks(2, 1)


def test_time_ticks_fall_on_round_utc_times_within_the_range():
    ticks, step = time_ticks(*DAY)
    assert step == 14400 and len(ticks) == 7
    assert [time_label(t, step, DAY[1] - DAY[0]) for t in ticks] == [
        "00:00",
        "04:00",
        "08:00",
        "12:00",
        "16:00",
        "20:00",
        "00:00",
    ]
    week = (DAY[0], DAY[0] + 7 * 86400)
    ticks, step = time_ticks(*week)
    assert step == 172800 and time_label(ticks[0], step, week[1] - week[0]) == "11-04"
    ticks, step = time_ticks(DAY[0] + 90, DAY[0] + 3 * 3600)
    assert step == 1800 and ticks[0] == DAY[0] + 1800 and ticks[-1] <= DAY[0] + 3 * 3600


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.5, "percentunit", "50%"),
        (0.1234, "percentunit", "12.3%"),
        (45, "s", "45 s"),
        (600, "s", "10 min"),
        (5400, "s", "1.5 h"),
        (7, "short", "7"),
        (0.25, "", "0.25"),
        (12345, "", "12.3k"),
        (2_500_000, "", "2.5M"),
        (0.000123, "", "0.000123"),
        (-3.5, "", "-3.5"),
    ],
)
def test_format_value(value, unit, text):
    assert format_value(value, unit) == text


def test_line_chart_draws_one_path_per_series_scaled_into_the_plot():
    series = {"LUOHU": [(DAY[0], 0.0), (DAY[0] + 43200, 10.0), (DAY[1], None)], "FUTIAN": [(DAY[1], 4.0)]}
    svg = parse(line_chart("Crossings", series, DAY, width=600, height=240, y_label="crossings"))
    assert svg.get("class") == "chart" and svg.get("data-series") == "2" and svg.get("data-points") == "3"
    paths = {p.get("data-series"): p for p in svg.iter(f"{SVG}path")}
    assert paths["LUOHU"].get("data-points") == "2" and paths["FUTIAN"].get("data-points") == "1"
    points = [tuple(map(float, xy.split(","))) for xy in re.findall(r"[\d.]+,[\d.]+", paths["LUOHU"].get("d"))]
    assert points[0] == (64, 200) and points[1] == (324, 12)  # (left, bottom) and (middle, top: 10 on 0..10)
    assert len(list(svg.iter(f"{SVG}circle"))) == 3  # a lone point shows as a dot
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "label"]
    assert labels == ["crossings", "time (UTC)"]
    legend = [t.text for g in svg.iter(f"{SVG}g") if g.get("class") == "legend" for t in g.iter(f"{SVG}text")]
    assert legend == ["LUOHU", "FUTIAN"]


def test_long_legends_wrap_and_grow_the_chart():
    names = [f"port number {index} of many" for index in range(12)]
    svg = parse(line_chart("t", {name: [(DAY[0], 1.0)] for name in names}, DAY, width=400, height=200))
    rows = {rect.get("y") for rect in svg.iter(f"{SVG}rect")}
    assert len(rows) == 12 and int(svg.get("height")) > 200 + 11 * 18


def test_titles_labels_and_series_names_are_escaped():
    evil = "<script>alert(\"x\")</script> & 'q'"
    svg = line_chart(evil, {evil: [(DAY[0], 1.0)]}, DAY, y_label=evil)
    assert "<script" not in svg and "&lt;script&gt;" in svg
    tree = parse(svg)
    assert tree.get("aria-label") == evil and tree.find(f"{SVG}title").text == evil
    assert [p.get("data-series") for p in tree.iter(f"{SVG}path")] == [evil]


def test_empty_data_says_no_data():
    for series in ({}, {"LUOHU": []}, {"LUOHU": [(DAY[0], None)]}):
        svg = parse(line_chart("Empty", series, DAY))
        assert svg.get("data-points") == "0" and svg.get("data-series") == "0"
        assert [t.text for t in svg.iter(f"{SVG}text")] == ["no data"]
        assert not list(svg.iter(f"{SVG}path"))


def test_time_series_splits_rows_by_labels_and_value_columns():
    by_port = QueryResult(
        ("time", "port_code", "n"),
        ("DateTime", "LowCardinality(String)", "Float64"),
        [
            ("2025-11-03 08:00:00", "LUOHU", 2.0),
            ("2025-11-03 08:00:00", "FUTIAN", None),
            ("2025-11-03 08:05:00", "LUOHU", 3.0),
        ],
    )
    eight = datetime(2025, 11, 3, 8, tzinfo=UTC).timestamp()
    assert time_series(by_port, ZoneInfo("UTC")) == {
        "LUOHU": [(eight, 2.0), (eight + 300, 3.0)],
        "FUTIAN": [(eight, None)],
    }
    shares = QueryResult(
        ("time", "a_share", "b_share"),
        ("DateTime('Asia/Shanghai')", "Float64", "UInt64"),
        [("2025-11-03 16:00:00", 0.5, "1")],
    )  # UInt64 comes quoted; 16:00 Shanghai = 08:00 UTC
    assert time_series(shares, ZoneInfo("UTC")) == {"a_share": [(eight, 0.5)], "b_share": [(eight, 1.0)]}
    from_driver = QueryResult(("time", "n"), ("DateTime", "UInt64"), [(datetime(2025, 11, 3, 16), 4)])
    assert time_series(from_driver, ZoneInfo("Asia/Shanghai")) == {"n": [(eight, 4.0)]}  # a server's naive value


@pytest.mark.parametrize(("hours", "seconds"), [(1, 60), (6, 60), (7, 300), (48, 300), (49, 3600), (24 * 30, 3600)])
def test_interval_follows_the_range(hours, seconds):
    start = datetime(2025, 11, 3, tzinfo=UTC)
    assert interval_for(start, start + timedelta(hours=hours)) == seconds
