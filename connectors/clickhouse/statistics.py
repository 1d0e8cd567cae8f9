"""The HK Immigration Department's daily passenger traffic into `official_daily_traffic`.

One row per day, HK control point, HK direction and traveller category, with the Shenzhen
counterpart port from the port registry (NULL for control points without one: airport,
ferries, the bridge, the express rail) and the direction seen from Shenzhen (HK arrival =
Shenzhen exit). The table is a ReplacingMergeTree on (day, control point, HK direction,
category): loading a file again replaces its rows instead of adding to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from connectors.clickhouse.base import Warehouse
from connectors.sources.replay import HK_DIRECTIONS, Rejection, read_hk_statistics
from schemas.ports import PortRegistry, load_ports

TABLE = "official_daily_traffic"
COLUMNS = ("day", "control_point", "hk_direction", "port_code", "direction", "category", "travellers")
# The statistics' own direction names, from the direction seen from Shenzhen.
_HK_DIRECTION_NAMES = {direction: name for name, direction in HK_DIRECTIONS.items()}


@dataclass(frozen=True)
class StatisticsLoad:
    """What a load did: rows inserted (one per category), CSV lines read, rejected lines."""

    rows: int
    lines: int
    days: int
    rejections: list[Rejection] = field(default_factory=list)


def load_statistics(
    warehouse: Warehouse,
    path: Path | str,
    date_from: date | None = None,
    date_to: date | None = None,
    ports: PortRegistry | None = None,
) -> StatisticsLoad:
    """Insert the valid rows of the CSV dated in [date_from, date_to]; rejected lines (with
    their line numbers) are returned, not loaded. Raises ValueError for a file that is not
    the statistics, WarehouseError if the insert fails."""
    ports = ports if ports is not None else load_ports()
    traffic, rejections = read_hk_statistics(path, date_from, date_to)
    records = []
    for row in traffic:
        port = ports.for_hk_control_point(row.control_point)
        for category, travellers in row.counts.items():
            records.append(
                (
                    row.day,
                    row.control_point,
                    _HK_DIRECTION_NAMES[row.direction],
                    port.code if port else None,
                    row.direction.value,
                    category.value,
                    travellers,
                )
            )
    inserted = warehouse.insert(TABLE, COLUMNS, records)
    return StatisticsLoad(inserted, len(traffic), len({row.day for row in traffic}), rejections)
