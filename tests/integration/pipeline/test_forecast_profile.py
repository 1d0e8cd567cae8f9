"""The forecast's profiles learnt from the warehouse (pipeline/jobs/forecast_profile.py) are the
profiles `learn_profile` gives on the same crossings built in Python: two simulated days at a
small scale, loaded into chdb through the loader's row of the clean topic, learnt back through
sql/queries/forecast_history.sql. The warehouse holds times to the millisecond, so the Python
side reads the events at that precision, each on the Shenzhen local day of its release."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

import pytest
from pydantic import SecretStr

from connectors.clickhouse.loader import TARGETS
from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.settings import ClickHouseSettings
from connectors.kafka.topics import CLEAN
from connectors.sources.simulator import SimulatorSource
from pipeline.jobs.forecast_profile import learn_from_warehouse
from pipeline.transforms.forecast import MinuteAggregates, learn_profile
from schemas.events import Crossing
from schemas.ports import SHENZHEN_TZ
from schemas.privacy import Pseudonymiser

DAYS = (date(2025, 3, 10), date(2025, 3, 11))  # local days no other test loads crossings on
SCALE = 0.02


def simulated(day: date, seed: int) -> list[Crossing]:
    """A normal day from local midnight, lanes scaled too, as bench/forecast.py simulates one."""
    return list(
        SimulatorSource(
            datetime.combine(day, time(), SHENZHEN_TZ),
            24,
            seed=seed,
            scenario="normal",
            pseudonymiser=Pseudonymiser(SecretStr("forecast-profile-" + "0" * 32)),
            scale=SCALE,
            scale_lanes=True,
        ).events()
    )


def to_the_millisecond(at: datetime) -> datetime:
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


def learnt_in_python(events: list[Crossing], days: tuple[date, ...]) -> dict:
    """learn_profile per key over `days`: each event on the local day of its release, minutes
    from that day's local midnight (as bench/forecast.py's simulate_day), service times per lane."""
    aggregates: dict[date, dict] = {day: defaultdict(MinuteAggregates) for day in days}
    services: dict = defaultdict(lambda: defaultdict(list))
    for event in events:
        queued, started, released = map(
            to_the_millisecond, (event.queued_at, event.inspection_started_at, event.released_at)
        )
        day = released.astimezone(SHENZHEN_TZ).date()
        if day not in aggregates:
            continue
        origin = datetime.combine(day, time(), SHENZHEN_TZ).astimezone(UTC)
        key = (event.port_code, str(event.kind), str(event.direction))
        aggregates[day][key].add(
            int((queued - origin).total_seconds() // 60),
            int((released - origin).total_seconds() // 60),
            (released - queued).total_seconds(),
            event.lane_id,
        )
        services[key][event.lane_id].append((released - started).total_seconds())
    keys = sorted({key for by_key in aggregates.values() for key in by_key})
    return {
        key: learn_profile([aggregates[day].get(key, MinuteAggregates()) for day in days], services[key])
        for key in keys
    }


@pytest.fixture(scope="module")
def loaded(warehouse):
    migrate(warehouse, ClickHouseSettings())
    first, last = (datetime.combine(day, time(), SHENZHEN_TZ).astimezone(UTC) for day in (DAYS[0], DAYS[-1]))
    held = warehouse.query(
        "SELECT count() FROM crossings WHERE released_at >= {a:DateTime64(3)} AND released_at < {b:DateTime64(3)}",
        {"a": first.strftime("%Y-%m-%d %H:%M:%S"), "b": (last + timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S")},
    )
    assert int(held.rows[0][0]) == 0, "another test loaded crossings on these days"
    events = [event for seed, day in enumerate(DAYS, 1000) for event in simulated(day, seed)]
    clean = TARGETS[CLEAN.name]  # the loader's row of a record of the clean topic
    rows = [clean.convert(event.to_json(), 0, offset) for offset, event in enumerate(events)]
    warehouse.insert(clean.table, clean.columns, rows)
    return warehouse, events


def test_the_profiles_learnt_from_the_warehouse_are_those_of_the_same_events_in_python(loaded):
    warehouse, events = loaded
    expected = learnt_in_python(events, DAYS)
    assert len(expected) > 10 and all(profile.lane_service_s for profile in expected.values())
    assert learn_from_warehouse(warehouse, DAYS[0], DAYS[-1]) == expected


def test_the_range_takes_the_crossings_released_on_its_local_days_only(loaded):
    warehouse, events = loaded
    # the first day alone: neither the second day nor what the first released after its midnight
    assert learn_from_warehouse(warehouse, DAYS[0], DAYS[0]) == learnt_in_python(events, DAYS[:1])
    assert learn_from_warehouse(warehouse, DAYS[0] - timedelta(days=3), DAYS[0] - timedelta(days=1)) == {}
