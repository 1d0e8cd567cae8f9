"""Hour-of-day arrival profiles."""

from __future__ import annotations

import math

import pytest

from connectors.sources.profiles import SLOTS_PER_DAY, hourly_weights, slot_weights
from schemas.events import Direction, Kind

ALL = [(kind, direction) for kind in Kind for direction in Direction]
# Hours wholly inside the stated peaks, and hours that touch no peak at all.
PEAK_HOURS = {Direction.EXIT: {9, 10, 18, 19, 20, 21}, Direction.ENTRY: {10, 11, 12, 13, 14}}
TOUCHING_A_PEAK = {Direction.EXIT: {8, 9, 10, 18, 19, 20, 21}, Direction.ENTRY: set(range(10, 16))}


@pytest.mark.parametrize(("kind", "direction"), ALL)
def test_weights_are_shares_of_the_day(kind: Kind, direction: Direction) -> None:
    hourly = hourly_weights(kind, direction)
    slots = slot_weights(kind, direction)
    assert len(hourly) == 24 and len(slots) == SLOTS_PER_DAY
    assert all(w > 0 for w in slots)
    assert math.isclose(sum(hourly), 1.0) and math.isclose(sum(slots), 1.0)
    assert all(math.isclose(hourly[h], slots[2 * h] + slots[2 * h + 1]) for h in range(24))


@pytest.mark.parametrize(("kind", "direction"), ALL)
def test_peak_hours_outweigh_every_other_hour(kind: Kind, direction: Direction) -> None:
    hourly = hourly_weights(kind, direction)
    off_peak = [hourly[h] for h in range(24) if h not in TOUCHING_A_PEAK[direction]]
    assert min(hourly[h] for h in PEAK_HOURS[direction]) > max(off_peak)
    assert max(range(24), key=hourly.__getitem__) in PEAK_HOURS[direction]


@pytest.mark.parametrize("kind", list(Kind))
def test_peaks_start_and_end_on_the_half_hour(kind: Kind) -> None:
    exits, entries = slot_weights(kind, Direction.EXIT), slot_weights(kind, Direction.ENTRY)
    assert exits[17] > exits[16]  # 08:30-09:00 against 08:00-08:30
    assert exits[43] > exits[44]  # 21:30-22:00 against 22:00-22:30
    assert entries[30] > entries[31]  # 15:00-15:30 against 15:30-16:00
    assert entries[20] > entries[19]  # 10:00 starts the entry peak


def test_trucks_run_flatter_than_travellers() -> None:
    for direction in Direction:
        trucks, travellers = (
            hourly_weights(Kind.TRUCK, direction),
            hourly_weights(Kind.TRAVELLER, direction),
        )
        assert max(trucks) / min(trucks) < max(travellers) / min(travellers)
        assert trucks[3] > travellers[3]
