"""The forecast's profiles learnt from the warehouse (issue 21): the crossings of past local
days, as `sql/queries/forecast_history.sql` returns them, through `learn_profile` of
`pipeline/transforms/forecast.py`, once per port, kind and direction. `profiles_to_json` of
the result is the file the forecast job reads at its start."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

from connectors.clickhouse.base import Warehouse
from pipeline.transforms.forecast import MinuteAggregates, Profile, ProfileKey, learn_profile

HISTORY_QUERY = Path(__file__).resolve().parents[2] / "sql" / "queries" / "forecast_history.sql"


def learn_from_warehouse(warehouse: Warehouse, date_from: date, date_to: date) -> dict[ProfileKey, Profile]:
    """The profile of every (port_code, kind, direction) released in the Shenzhen local days
    `date_from` to `date_to` (inclusive), on chdb or a server (`warehouse`, read only).

    Each local day gives one `MinuteAggregates` per key, as `bench/forecast.py`'s
    `simulate_day` builds them: minutes from the day's local midnight (0..1439 by release; an
    arrival of the day before is a minute below 0), so a crossing counts on the day it was
    released. The days are those of the range on which the warehouse holds any crossing (a day
    it has none of, an outage or a day past retention, says nothing); a key without crossings
    on one of them counts as an empty day there. Service times (released_at -
    inspection_started_at) per lane over all the days. Keys without any crossing in the range
    have no profile; an empty dict when the range holds none."""
    params = {"date_from": date_from.isoformat(), "date_to": date_to.isoformat()}
    result = warehouse.query(HISTORY_QUERY.read_text(), params)
    # a day is a Date (a server) or its ISO text (chdb): either sorts in time order
    days: dict[ProfileKey, dict[object, MinuteAggregates]] = defaultdict(lambda: defaultdict(MinuteAggregates))
    services: dict[ProfileKey, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    seen = set()
    for port, kind, direction, day, queued, released, clearance_s, lane, service_s in result.rows:
        key = (port, kind, direction)
        seen.add(day)
        days[key][day].add(int(queued), int(released), float(clearance_s), lane)  # chdb quotes 64-bit ints
        services[key][lane].append(float(service_s))
    ordered = sorted(seen)
    return {
        key: learn_profile([by_day.get(day, MinuteAggregates()) for day in ordered], services[key])
        for key, by_day in sorted(days.items())
    }
