"""Past days for the demo's forecast: the forecast job's profile is learnt from days already in
the warehouse, and a fresh demo warehouse has none. Normal simulated days before the demo's
period are written straight into `crossings` (history, not traffic: they never pass through
Kafka or the job), once: a day with crossings queued in it is left as it is."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from connectors.clickhouse import Warehouse
from connectors.clickhouse.loader import CROSSING_COLUMNS, crossing_row
from connectors.sources.simulator import SimulatorSource
from schemas.ports import SHENZHEN_TZ
from schemas.privacy import Pseudonymiser

INSERT_ROWS = 20_000


def history_days(before: date, days: int) -> list[date]:
    """The `days` Shenzhen local days before `before`, oldest first."""
    return [before - timedelta(days=n) for n in range(days, 0, -1)]


def seed_history(
    warehouse: Warehouse, days: list[date], *, scale: float, seed: int, pseudonymiser: Pseudonymiser
) -> dict[date, int]:
    """Simulate each of `days` with no crossing queued in it in `crossings` (a normal day, seed
    `seed + its ordinal`) and insert the crossings released within it; returns the events
    written per day (0 for a day already there). Kafka coordinates are 0: these rows come from
    no topic."""
    written = {}
    for day in days:
        present = warehouse.query(
            f"SELECT count() AS n FROM crossings WHERE toDate(queued_at, '{SHENZHEN_TZ.key}') = {{day:Date}}",
            {"day": day.isoformat()},
        ).dicts()[0]["n"]
        if int(present):
            written[day] = 0
            continue
        start = datetime.combine(day, datetime.min.time(), SHENZHEN_TZ)
        end = start + timedelta(days=1)
        source = SimulatorSource(
            start,
            24,
            seed=seed + day.toordinal(),
            scenario="normal",
            scale=scale,
            scale_lanes=scale < 1,
            pseudonymiser=pseudonymiser,
        )
        batch, count = [], 0
        for event in source.events():
            if event.released_at >= end:
                continue  # the day's past only: a crossing released after it is the next day's
            batch.append(crossing_row(json.loads(event.to_json()), 0, 0))
            if len(batch) >= INSERT_ROWS:
                count += warehouse.insert("crossings", CROSSING_COLUMNS, batch)
                batch = []
        if batch:
            count += warehouse.insert("crossings", CROSSING_COLUMNS, batch)
        written[day] = count
    return written
