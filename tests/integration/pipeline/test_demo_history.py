"""The demo's past days: simulated normal days written once into the warehouse's crossings."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from pydantic import SecretStr

from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.settings import ClickHouseSettings
from pipeline.demo.history import history_days, seed_history
from schemas.ports import SHENZHEN_TZ
from schemas.privacy import Pseudonymiser

pytestmark = pytest.mark.integration

# within the crossings' retention (rows past it are dropped as they are inserted), and months
# from the fixed days other tests date their rows on
BEFORE = date.today() - timedelta(days=200)
DAYS = history_days(BEFORE, 2)


def test_history_days_are_the_days_before_oldest_first():
    assert history_days(date(2019, 3, 4), 2) == [date(2019, 3, 2), date(2019, 3, 3)]


def test_each_day_is_written_once_with_its_crossings_queued_on_it(warehouse):
    migrate(warehouse, ClickHouseSettings())
    pseudonymiser = Pseudonymiser(SecretStr("demo-history-" + "0" * 32))
    first = seed_history(warehouse, DAYS, scale=0.02, seed=7, pseudonymiser=pseudonymiser)
    again = seed_history(warehouse, DAYS, scale=0.02, seed=7, pseudonymiser=pseudonymiser)
    rows = warehouse.query(
        f"SELECT toDate(queued_at, '{SHENZHEN_TZ.key}') AS day, count() AS n FROM crossings FINAL "
        "WHERE day BETWEEN {first:Date} AND {last:Date} GROUP BY day ORDER BY day",
        {"first": DAYS[0].isoformat(), "last": DAYS[-1].isoformat()},
    ).dicts()
    assert all(first[day] > 1000 for day in DAYS)
    assert again == dict.fromkeys(DAYS, 0)
    assert [(row["day"], int(row["n"])) for row in rows] == [(day.isoformat(), first[day]) for day in DAYS]
    [after] = warehouse.query(
        f"SELECT count() AS n FROM crossings WHERE toDate(released_at, '{SHENZHEN_TZ.key}') = {{day:Date}}",
        {"day": BEFORE.isoformat()},
    ).dicts()
    assert int(after["n"]) == 0  # nothing released after the history: the period after it is the demo's
