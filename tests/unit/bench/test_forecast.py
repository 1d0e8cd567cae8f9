"""bench/forecast.py measures what the forecast job issues: the minute rows it builds from
crossings are the job's `minute_aggregates` rows, its forecast at t sees only the crossings
released before t (on the profile's local minutes), the job's state runs on across midnight,
and a lead is taken from the warning open when the clearance alert comes."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from bench.forecast import Day, Episode, Job, MinuteRows, day_warnings, epoch_minute, lead_warning
from pipeline.transforms.forecast import MINUTES_PER_DAY, MinuteAggregates, Profile, forecast
from pipeline.transforms.forecast_stream import MinuteRow
from schemas.ports import SHENZHEN_TZ, load_ports

KEY = ("HUANGGANG", "truck", "exit")
LANES = ("lane-1", "lane-2")
MIDNIGHT = datetime(2024, 5, 1, tzinfo=SHENZHEN_TZ)  # a local midnight, 16:00 UTC the day before
ORIGIN = epoch_minute(MIDNIGHT)


def crossing(queued: datetime, released: datetime, lane: str, port: str = KEY[0], kind: str = KEY[1]):
    return SimpleNamespace(
        port_code=port, kind=kind, direction=KEY[2], lane_id=lane, queued_at=queued, released_at=released
    )


def profile() -> Profile:
    """2 trucks a minute on 2 lanes of 60 s; a usual p90 that changes with the local minute of
    day, so a forecast on the wrong minute of day shows."""
    usual = tuple(600.0 + m / 10 for m in range(MINUTES_PER_DAY))
    return Profile((2.0,) * MINUTES_PER_DAY, usual, dict.fromkeys(LANES, 60.0))


def steady(first: int, last: int, clearance_s: float) -> list:
    """One crossing per lane per local minute of [first, last), each waited `clearance_s`."""
    result = []
    for m in range(first, last):
        for i, lane in enumerate(LANES):
            released = MIDNIGHT + timedelta(minutes=m, seconds=10 + 20 * i)
            result.append(crossing(released - timedelta(seconds=clearance_s), released, lane))
    return result


def day_of(crossings: list, day: int = 0) -> Day:
    rows = MinuteRows()
    for c in crossings:
        rows.add(c)
    return Day(ORIGIN + day * MINUTES_PER_DAY, {}, {}, rows.rows())


def local_aggregates(crossings: list, released_before: int | None = None) -> MinuteAggregates:
    """As the benchmark built them before: minutes after local midnight, from every crossing
    (or only those released before a local minute)."""
    agg = MinuteAggregates()
    for c in crossings:
        released = epoch_minute(c.released_at) - ORIGIN
        if released_before is None or released < released_before:
            clearance = (c.released_at - c.queued_at).total_seconds()
            agg.add(epoch_minute(c.queued_at) - ORIGIN, released, clearance, c.lane_id)
    return agg


def test_minute_rows_are_the_sql_rows_per_kind_direction_minute_and_port():
    at = datetime(2024, 5, 1, 2, 3, 59, 999_999, tzinfo=UTC)
    crossings = [
        crossing(at, at + timedelta(seconds=601, microseconds=2), "exit-x-01"),
        crossing(at - timedelta(minutes=3), at + timedelta(seconds=630), "exit-x-02", port="LIANTANG"),
        crossing(at, at + timedelta(seconds=620), "exit-x-03"),
        crossing(at, at + timedelta(seconds=700), "exit-x-01"),
        crossing(at, at + timedelta(seconds=605), "exit-t-01", kind="traveller"),
    ]
    rows = MinuteRows()
    for c in crossings:
        rows.add(c)
    queued, released = epoch_minute(at), epoch_minute(at + timedelta(seconds=601))
    assert queued == int(at.timestamp()) // 60  # the floor, as UNIX_TIMESTAMP(...) / 60
    assert rows.rows() == {
        ("truck", "exit"): {
            released: [
                MinuteRow("HUANGGANG", released, [601.000002, 620.0], [queued, queued], ["exit-x-01", "exit-x-03"]),
                MinuteRow("LIANTANG", released, [810.0], [queued - 3], ["exit-x-02"]),
            ],
            released + 1: [MinuteRow("HUANGGANG", released + 1, [700.0], [queued], ["exit-x-01"])],
        },
        ("traveller", "exit"): {released: [MinuteRow("HUANGGANG", released, [605.0], [queued], ["exit-t-01"])]},
    }


def test_the_forecast_at_t_sees_only_the_crossings_released_before_t():
    """30 trucks queued at 11:30 and held until 12:40 are in the arrivals of the whole day at
    12:00, not in what the job has then."""
    held_at = MIDNIGHT + timedelta(hours=11, minutes=30)
    held = [crossing(held_at, held_at + timedelta(minutes=70, seconds=i), LANES[i % 2]) for i in range(30)]
    crossings = steady(10 * 60, 13 * 60, 600.0) + held
    forecasts = Job({KEY: profile()}, load_ports()).run_day(day_of(crossings))

    whole_day = local_aggregates(crossings)
    differ = 0
    for t in range(10 * 60 + 1, 13 * 60):
        expected = forecast(local_aggregates(crossings, released_before=t), t, profile())
        assert [forecasts[KEY][f.horizon_min][t] for f in expected] == [f.p90_s for f in expected]
        differ += forecast(whole_day, t, profile()) != expected
    assert differ >= 10
    assert forecasts[KEY][30][10 * 60] is None  # nothing released before 10:00


def test_the_job_state_runs_across_midnight():
    """A queue of trucks waiting 3 hours from 22:00 to 02:00: one early warning, raised the
    first evening and resolved the next night; a job started at midnight would raise another."""
    crossings = steady(22 * 60, MINUTES_PER_DAY + 2 * 60, 3 * 3600.0)
    first = [c for c in crossings if c.released_at < MIDNIGHT + timedelta(days=1)]
    second = crossings[len(first) :]
    job = Job({KEY: profile()}, load_ports())
    evening, night = day_of(first), day_of(second, day=1)
    job.run_day(evening)
    forecasts = job.run_day(night)

    [episode] = job.warnings[KEY]
    assert 22 * 60 < episode.raised - evening.origin < 22 * 60 + 10
    assert 2 * 60 < episode.resolved - night.origin < 3 * 60
    assert day_warnings(job.warnings[KEY], night) == []
    assert forecasts[KEY][30][0] > 3600  # at 00:00, from the releases before midnight

    fresh = Job({KEY: profile()}, load_ports())
    fresh.run_day(day_of(second, day=1))
    [restarted] = fresh.warnings[KEY]
    assert 0 < restarted.raised - night.origin < 10


def test_lead_is_taken_from_the_warning_open_when_the_alert_comes():
    early, later = Episode(500, 520), Episode(560, None)
    assert lead_warning([early, later], 510) is early
    assert lead_warning([early, later], 570) is later
    assert lead_warning([early], 530) is None  # resolved before the alert: no lead
    assert lead_warning([early, later], 530) is later  # raised after the alert: a negative lead
    assert lead_warning([early, later], None) is early
