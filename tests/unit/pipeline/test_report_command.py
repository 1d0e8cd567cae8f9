"""`crossings report` arguments: dates and datetimes in UTC, the range they make, and the checks
that run before any warehouse opens."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

import pytest

from pipeline.cli import main
from pipeline.commands.common import UserError
from pipeline.commands.report import parse_moment, report_range


def test_parse_moment_dates_and_datetimes_in_utc():
    assert parse_moment("2025-11-03") == date(2025, 11, 3)
    assert parse_moment("2025-11-03T06:30") == datetime(2025, 11, 3, 6, 30, tzinfo=UTC)
    assert parse_moment("2025-11-03 08:00:00+08:00") == datetime(2025, 11, 3, 0, 0, tzinfo=UTC)
    with pytest.raises(argparse.ArgumentTypeError, match="is not a date"):
        parse_moment("yesterday")


def test_a_to_date_includes_its_whole_day():
    assert report_range(date(2025, 11, 3), date(2025, 11, 3)) == (
        datetime(2025, 11, 3, tzinfo=UTC),
        datetime(2025, 11, 4, tzinfo=UTC),
    )
    six = datetime(2025, 11, 3, 6, tzinfo=UTC)
    assert report_range(six, date(2025, 11, 3)) == (six, datetime(2025, 11, 4, tzinfo=UTC))


def test_a_range_ending_before_it_starts_fails_before_the_warehouse_opens(monkeypatch, tmp_path, capsys):
    with pytest.raises(UserError, match="is not after --from"):
        report_range(datetime(2025, 11, 3, 6, tzinfo=UTC), datetime(2025, 11, 3, 6, tzinfo=UTC))
    monkeypatch.setenv("CLICKHOUSE_DATA_PATH", str(tmp_path / "chdb"))
    assert main(["report", "--from", "2025-11-04", "--to", "2025-11-03", "--out", str(tmp_path / "r.html")]) == 1
    assert "is not after --from" in capsys.readouterr().err
    assert not (tmp_path / "chdb").exists() and not (tmp_path / "r.html").exists()
