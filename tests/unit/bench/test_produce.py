"""The bench's simulated input: as many full-scale days as the asked number of events needs."""

import pytest

import bench.produce
from bench.produce import EVENTS_PER_DAY_AT_LEAST, simulated


class DaysOfEvents:
    """A stand-in for SimulatorSource: EVENTS_PER_DAY_AT_LEAST numbered events per simulated day."""

    def __init__(self, start, hours, seed, pseudonymiser):
        self.hours = hours
        made.append(self)

    def events(self):
        return iter(range(int(self.hours / 24 * EVENTS_PER_DAY_AT_LEAST)))


made: list[DaysOfEvents] = []


@pytest.fixture(autouse=True)
def days_of_events(monkeypatch):
    made.clear()
    monkeypatch.setattr(bench.produce, "SimulatorSource", DaysOfEvents)


def test_spans_the_days_the_events_need():
    events = list(simulated(2 * EVENTS_PER_DAY_AT_LEAST + 1, seed=1))
    assert len(events) == 2 * EVENTS_PER_DAY_AT_LEAST + 1
    assert made[0].hours == 3 * 24


def test_one_day_for_fewer_events():
    assert len(list(simulated(10, seed=1))) == 10
    assert made[0].hours == 24


def test_too_few_events_is_an_error(monkeypatch):
    monkeypatch.setattr(DaysOfEvents, "events", lambda self: iter(range(5)))
    with pytest.raises(RuntimeError, match="1 simulated days hold 5 events, fewer than the 10 asked for"):
        list(simulated(10, seed=1))
