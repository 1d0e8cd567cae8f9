"""Hour-of-day arrival profiles of the border crossings (local time, Asia/Shanghai).

The shape is a base day (quiet at night, ramping up from 06:00, tapering after 22:00) plus the
peaks stated in the issue, seen from Shenzhen: exits peak 08:30-11:00 and 18:00-22:00 (people
and goods leaving for Hong Kong in the morning, residents going home in the evening), entries
peak 10:00-15:30. Trucks follow the same peaks with a flatter shape, since freight runs through
the day and night. The profile is defined on half-hour slots, so a peak that starts at 08:30
fills half of hour 8; `hourly_weights` sums the slots to hours.
"""

from __future__ import annotations

from functools import cache

from schemas.events import Direction, Kind

SLOT_MINUTES = 30
SLOTS_PER_DAY = 24 * 60 // SLOT_MINUTES

# fmt: off
# Relative intensity of the base day, one value per hour (both slots of the hour).
_BASE_BY_HOUR = (
    0.15, 0.08, 0.05, 0.04, 0.04, 0.08,  # 00-05
    0.35, 0.65, 0.90, 1.00, 1.00, 1.00,  # 06-11
    1.00, 1.00, 1.00, 1.00, 1.00, 1.00,  # 12-17
    1.00, 0.95, 0.85, 0.70, 0.45, 0.25,  # 18-23
)
# Freight runs at night too: its base day is flatter.
_TRUCK_BASE_BY_HOUR = (
    0.45, 0.40, 0.35, 0.35, 0.40, 0.50,
    0.70, 0.85, 0.95, 1.00, 1.00, 1.00,
    1.00, 1.00, 1.00, 1.00, 1.00, 1.00,
    1.00, 0.95, 0.90, 0.80, 0.65, 0.55,
)
# fmt: on

# Peaks as (start, end) local times "HH:MM", added on top of the base day.
PEAKS: dict[Direction, tuple[tuple[str, str], ...]] = {
    Direction.EXIT: (("08:30", "11:00"), ("18:00", "22:00")),
    Direction.ENTRY: (("10:00", "15:30"),),
}
# Height of a peak relative to the base day, by kind.
_PEAK_GAIN: dict[Kind, float] = {Kind.TRAVELLER: 1.2, Kind.DRIVER: 1.0, Kind.TRUCK: 0.4}


def _slot(hhmm: str) -> int:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return (hours * 60 + minutes) // SLOT_MINUTES


@cache
def slot_weights(kind: Kind, direction: Direction) -> tuple[float, ...]:
    """Share of the day's arrivals in each half-hour slot from 00:00 local; sums to 1."""
    base = _TRUCK_BASE_BY_HOUR if kind == Kind.TRUCK else _BASE_BY_HOUR
    intensity = [base[slot * SLOT_MINUTES // 60] for slot in range(SLOTS_PER_DAY)]
    for start, end in PEAKS[direction]:
        for slot in range(_slot(start), _slot(end)):
            intensity[slot] += _PEAK_GAIN[kind]
    total = sum(intensity)
    return tuple(value / total for value in intensity)


@cache
def hourly_weights(kind: Kind, direction: Direction) -> tuple[float, ...]:
    """Share of the day's arrivals in each local hour 0-23; 24 weights summing to 1."""
    slots = slot_weights(kind, direction)
    per_hour = 60 // SLOT_MINUTES
    return tuple(sum(slots[hour * per_hour : (hour + 1) * per_hour]) for hour in range(24))
