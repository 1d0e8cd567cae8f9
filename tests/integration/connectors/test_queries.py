"""The analyst queries of sql/queries/ on a small hand-made data set, redeliveries included,
with every expected figure worked out by hand; the migrations; loading the HK statistics."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.clickhouse.migrations import load_migrations, migrate
from connectors.clickhouse.settings import ClickHouseSettings
from connectors.clickhouse.statistics import load_statistics
from connectors.sources.replay import ReplaySource
from schemas.ports import SHENZHEN_TZ
from schemas.privacy import Pseudonymiser

ROOT = Path(__file__).resolve().parents[3]
QUERIES = ROOT / "sql" / "queries"
STATISTICS = ROOT.parent / "shared" / "data" / "hk-immd-daily-passenger-traffic-2021-01-01_2025-06-30.csv"
D1, D2 = "2025-12-01", "2025-12-02"  # a Monday and a Tuesday, Shenzhen local days

# name, kind, port, direction, inspection mode, local release time, clearance seconds, category
EVENTS = [
    ("a", "traveller", "LUOHU", "exit", "two-site", f"{D1} 08:10", 60, "hk-macao-resident"),
    ("b", "traveller", "LUOHU", "exit", "two-site", f"{D1} 08:20", 120, "mainland-resident"),
    ("c", "traveller", "LUOHU", "exit", "two-site", f"{D1} 08:40", 300, "hk-macao-resident"),
    ("d", "traveller", "LUOHU", "entry", "two-site", f"{D1} 23:30", 90, "foreign"),
    # 00:30 local is 16:30 UTC on D1: it belongs to local day D2.
    ("e", "traveller", "LUOHU", "entry", "two-site", f"{D2} 00:30", 30, "foreign"),
    ("f", "traveller", "FUTIAN", "exit", "two-site", f"{D1} 09:05", 200, "hk-macao-resident"),
    ("g", "truck", "HUANGGANG", "exit", "two-site", f"{D1} 10:00", 600, None),
    ("h", "truck", "HUANGGANG", "entry", "two-site", f"{D1} 10:30", 1200, None),
    ("i", "truck", "LIANTANG", "entry", "two-site", f"{D1} 11:00", 900, None),
    ("j", "truck", "SHENZHEN_BAY", "exit", "co-location", f"{D1} 12:00", 1500, None),
    ("k", "truck", "HUANGGANG", "exit", "two-site", f"{D2} 10:00", 600, None),
    ("l", "truck", "SHENZHEN_BAY", "exit", "co-location", f"{D2} 10:15", 300, None),
    ("m", "traveller", "LIANTANG", "exit", "joint-one-release", f"{D2} 14:00", 40, "mainland-resident"),
    ("n", "traveller", "LIANTANG", "exit", "joint-one-release", f"{D2} 14:10", 80, "mainland-resident"),
]
REDELIVERED = {"c", "f", "j"}  # inserted a second time, as after a loader restart

CROSSING_COLUMNS = [
    "event_id",
    "schema_version",
    "kind",
    "port_code",
    "direction",
    "lane_id",
    "channel_type",
    "inspection_mode",
    "queued_at",
    "inspection_started_at",
    "released_at",
    "subject_ref",
    "category",
    "kafka_partition",
    "kafka_offset",
]

EPISODE_1 = uuid.UUID("00000000-0000-4000-8000-000000000001")
EPISODE_2 = uuid.UUID("00000000-0000-4000-8000-000000000002")
EPISODE_3 = uuid.UUID("00000000-0000-4000-8000-000000000003")
ALERT_COLUMNS = [
    "episode_id",
    "state",
    "severity",
    "port_code",
    "kind",
    "direction",
    "started_at",
    "ended_at",
    "peak_p90_s",
    "threshold_s",
    "version",
]
ALERTS = [
    # Luohu exit: raised as a warning, resolved as critical 45 minutes after it started.
    (EPISODE_1, "raised", "warning", "LUOHU", "traveller", "exit", "2025-12-01 00:00:00", None, 2000.0, 1800, 1),
    (
        EPISODE_1,
        "resolved",
        "critical",
        "LUOHU",
        "traveller",
        "exit",
        "2025-12-01 00:00:00",
        "2025-12-01 00:45:00",
        4000.0,
        1800,
        2,
    ),
    # Huanggang truck entry: raised on D2 10:00 local, still open.
    (EPISODE_2, "raised", "warning", "HUANGGANG", "truck", "entry", "2025-12-02 02:00:00", None, 4000.0, 3600, 3),
]

# Shenzhen Bay traveller exit: an early warning raised on D2 08:30 local, with its advice.
FORECAST_COLUMNS = [*ALERT_COLUMNS, "episode_type", "advice_port_code", "advice_forecast_s", "advice_difference_min"]
FORECAST_ALERT = (
    EPISODE_3,
    "raised",
    "early-warning",
    "SHENZHEN_BAY",
    "traveller",
    "exit",
    "2025-12-02 00:30:00",
    None,
    2460.0,
    1800,
    4,
    "forecast",
    "FUTIAN",
    720.0,
    29.0,
)

OFFICIAL_COLUMNS = ["day", "control_point", "hk_direction", "port_code", "direction", "category", "travellers"]
OFFICIAL = [
    # Lo Wu arrival = Luohu exit: x 0.1 -> 1.5 -> 2, 1.0 -> 1, 0.4 -> 0: expected 3.
    (D1, "Lo Wu", "Arrival", "LUOHU", "exit", "hk-macao-resident", 15),
    (D1, "Lo Wu", "Arrival", "LUOHU", "exit", "mainland-resident", 10),
    (D1, "Lo Wu", "Arrival", "LUOHU", "exit", "foreign", 4),
    # Lo Wu departure = Luohu entry: 2.5 -> 2 (half to even): expected 2.
    (D1, "Lo Wu", "Departure", "LUOHU", "entry", "hk-macao-resident", 25),
    (D1, "Lo Wu", "Departure", "LUOHU", "entry", "mainland-resident", 0),
    (D1, "Lo Wu", "Departure", "LUOHU", "entry", "foreign", 0),
    # Lok Ma Chau Spur Line arrival = Futian exit: 0.5 -> 0, 0.6 -> 1: expected 1.
    (D1, "Lok Ma Chau Spur Line", "Arrival", "FUTIAN", "exit", "hk-macao-resident", 5),
    (D1, "Lok Ma Chau Spur Line", "Arrival", "FUTIAN", "exit", "mainland-resident", 6),
    # No Shenzhen counterpart: never in the reconciliation.
    (D1, "Airport", "Arrival", None, "exit", "hk-macao-resident", 1000),
]


def _utc(local: str) -> datetime:
    return datetime.fromisoformat(local).replace(tzinfo=SHENZHEN_TZ).astimezone(UTC)


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _crossing_row(index: int, event: tuple) -> tuple:
    name, kind, port, direction, mode, local, clearance_s, category = event
    released = _utc(local)
    queued = released - timedelta(seconds=clearance_s)
    channel = "freight-lane" if kind == "truck" else "e-channel"
    return (
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"crossings-test/{name}")),
        1,
        kind,
        port,
        direction,
        f"{direction}-{channel}-01",
        channel,
        mode,
        _stamp(queued),
        _stamp(released - timedelta(seconds=min(clearance_s, 20))),
        _stamp(released),
        f"ref-{name}",
        category,
        0,
        index,
    )


@pytest.fixture(scope="module")
def data(warehouse):
    migrate(warehouse, ClickHouseSettings())
    rows = [_crossing_row(index, event) for index, event in enumerate(EVENTS)]
    warehouse.insert("crossings", CROSSING_COLUMNS, rows)
    # The redelivery: a separate insert (another part), same events and Kafka coordinates.
    redelivered = [row for row, event in zip(rows, EVENTS) if event[0] in REDELIVERED]
    warehouse.insert("crossings", CROSSING_COLUMNS, redelivered)
    warehouse.insert("alerts", ALERT_COLUMNS, [(str(a[0]), *a[1:]) for a in ALERTS])
    warehouse.insert("alerts", ALERT_COLUMNS, [(str(ALERTS[1][0]), *ALERTS[1][1:])])
    warehouse.insert("alerts", FORECAST_COLUMNS, [(str(FORECAST_ALERT[0]), *FORECAST_ALERT[1:])])
    warehouse.insert("official_daily_traffic", OFFICIAL_COLUMNS, OFFICIAL)
    warehouse.insert("official_daily_traffic", OFFICIAL_COLUMNS, OFFICIAL[:3])
    return warehouse


def run(warehouse, name: str, **params) -> list[dict]:
    return warehouse.query((QUERIES / f"{name}.sql").read_text(), params).dicts()


def test_redelivered_rows_are_stored_twice_until_merged(data):
    """The data set really has duplicates: without FINAL, the three redelivered events count twice."""
    raw = data.query("SELECT count() AS n FROM crossings WHERE subject_ref LIKE 'ref-_'").rows
    assert int(raw[0][0]) == len(EVENTS) + len(REDELIVERED)


def test_daily_crossings(data):
    rows = run(data, "daily_crossings", date_from=D1, date_to=D2)
    assert [(r["day"], r["port_code"], r["direction"], r["kind"], int(r["crossings"])) for r in rows] == [
        (D1, "FUTIAN", "exit", "traveller", 1),
        (D1, "HUANGGANG", "entry", "truck", 1),
        (D1, "HUANGGANG", "exit", "truck", 1),
        (D1, "LIANTANG", "entry", "truck", 1),
        (D1, "LUOHU", "entry", "traveller", 1),
        (D1, "LUOHU", "exit", "traveller", 3),
        (D1, "SHENZHEN_BAY", "exit", "truck", 1),
        (D2, "HUANGGANG", "exit", "truck", 1),
        (D2, "LIANTANG", "exit", "traveller", 2),
        (D2, "LUOHU", "entry", "traveller", 1),
        (D2, "SHENZHEN_BAY", "exit", "truck", 1),
    ]
    only_d2 = run(data, "daily_crossings", date_from=D2, date_to=D2)
    assert {r["day"] for r in only_d2} == {D2} and len(only_d2) == 4


def test_clearance_trend_per_day(data):
    rows = run(data, "clearance_trend", date_from=D1, date_to=D2, bucket="day")
    got = [(r["bucket_start"], r["port_code"], r["kind"], int(r["crossings"]), r["p50_s"], r["p90_s"]) for r in rows]
    # Percentiles interpolate between ranks: Luohu D1 sorted 60, 90, 120, 300 -> p50 at
    # rank 1.5 = 105, p90 at rank 2.7 = 120 + 0.7 x 180 = 246.
    assert got == [
        (f"{D1} 00:00:00", "FUTIAN", "traveller", 1, 200, 200),
        (f"{D1} 00:00:00", "HUANGGANG", "truck", 2, 900, pytest.approx(1140)),
        (f"{D1} 00:00:00", "LIANTANG", "truck", 1, 900, 900),
        (f"{D1} 00:00:00", "LUOHU", "traveller", 4, 105, pytest.approx(246)),
        (f"{D1} 00:00:00", "SHENZHEN_BAY", "truck", 1, 1500, 1500),
        (f"{D2} 00:00:00", "HUANGGANG", "truck", 1, 600, 600),
        (f"{D2} 00:00:00", "LIANTANG", "traveller", 2, 60, pytest.approx(76)),
        (f"{D2} 00:00:00", "LUOHU", "traveller", 1, 30, 30),
        (f"{D2} 00:00:00", "SHENZHEN_BAY", "truck", 1, 300, 300),
    ]


def test_clearance_trend_per_hour(data):
    rows = run(data, "clearance_trend", date_from=D1, date_to=D1, bucket="hour")
    luohu = [
        (r["bucket_start"], int(r["crossings"]), r["p50_s"], r["p90_s"]) for r in rows if r["port_code"] == "LUOHU"
    ]
    # 08:xx local: 60, 120, 300 -> p50 120, p90 = 120 + 0.8 x 180 = 264; 23:30: 90.
    assert luohu == [(f"{D1} 08:00:00", 3, 120, pytest.approx(264)), (f"{D1} 23:00:00", 1, 90, 90)]


def test_port_clearance(data):
    rows = run(data, "port_clearance", date_from=D1, date_to=D1)
    got = [(r["port_code"], int(r["crossings"]), r["p50_s"], r["p90_s"], r["p99_s"]) for r in rows]
    # Huanggang D1 600, 1200: p50 900, p90 = 600 + 0.9 x 600 = 1140, p99 = 1194. Luohu D1 60, 90,
    # 120, 300: p50 105, p90 246, p99 at rank 2.97 = 120 + 0.97 x 180 = 294.6.
    assert got == [
        ("FUTIAN", 1, 200, 200, 200),
        ("HUANGGANG", 2, 900, pytest.approx(1140), pytest.approx(1194)),
        ("LIANTANG", 1, 900, 900, 900),
        ("LUOHU", 4, 105, pytest.approx(246), pytest.approx(294.6)),
        ("SHENZHEN_BAY", 1, 1500, 1500, 1500),
    ]


def test_freight_diversion(data):
    rows = run(data, "freight_diversion", date_from=D1, date_to=D2)
    assert [
        (
            r["day"],
            int(r["huanggang"]),
            int(r["liantang"]),
            int(r["shenzhen_bay"]),
            int(r["total"]),
            r["huanggang_share"],
            r["liantang_share"],
            r["shenzhen_bay_share"],
        )
        for r in rows
    ] == [
        (D1, 2, 1, 1, 4, 0.5, 0.25, 0.25),
        (D2, 1, 0, 1, 2, 0.5, 0, 0.5),
    ]


def test_clearance_by_inspection_mode(data):
    rows = run(data, "clearance_by_inspection_mode", date_from=D1, date_to=D2)
    got = [
        (r["kind"], r["mode"], r["inspection_modes"], int(r["crossings"]), r["mean_s"], r["p50_s"], r["p90_s"])
        for r in rows
    ]
    assert got == [
        # 40, 80
        ("traveller", "joint-one-release", ["joint-one-release"], 2, 60, 60, pytest.approx(76)),
        # 30, 60, 90, 120, 200, 300: mean 800 / 6, p50 at rank 2.5, p90 at rank 4.5
        ("traveller", "other", ["two-site"], 6, pytest.approx(800 / 6), 105, 250),
        # 300, 600, 600, 900, 1200, 1500: mean 5100 / 6 = 850
        ("truck", "other", ["co-location", "two-site"], 6, 850, 750, 1350),
    ]


def test_busiest_hours_one_day_each(data):
    rows = run(data, "busiest_hours", date_from=D1, date_to=D2, port_code="", kind="")
    assert len(rows) == 2 * 24
    busy = {(r["weekday"], r["hour"]): (int(r["crossings"]), r["mean_per_day"]) for r in rows if int(r["crossings"])}
    assert busy == {
        (1, 8): (3, 3),
        (1, 9): (1, 1),
        (1, 10): (2, 2),
        (1, 11): (1, 1),
        (1, 12): (1, 1),
        (1, 23): (1, 1),
        (2, 0): (1, 1),
        (2, 10): (2, 2),
        (2, 14): (2, 2),
    }


def test_busiest_hours_over_eight_days_and_filters(data):
    # 2025-12-01 to 2025-12-08 covers two Mondays: the means halve there.
    rows = run(data, "busiest_hours", date_from=D1, date_to="2025-12-08", port_code="LUOHU", kind="traveller")
    assert len(rows) == 7 * 24
    busy = {(r["weekday"], r["hour"]): (int(r["crossings"]), r["mean_per_day"]) for r in rows if int(r["crossings"])}
    assert busy == {(1, 8): (3, 1.5), (1, 23): (1, 0.5), (2, 0): (1, 1)}


def test_alert_history(data):
    rows = run(data, "alert_history", date_from=D1, date_to=D2)
    assert [
        (
            r["episode_id"],
            r["port_code"],
            r["kind"],
            r["direction"],
            r["episode_type"],
            r["severity"],
            r["raised_at"],
            r["resolved_at"],
            r["duration_s"],
            r["peak_p90_s"],
            r["threshold_s"],
        )
        for r in rows
    ] == [
        (
            str(EPISODE_1),
            "LUOHU",
            "traveller",
            "exit",
            "clearance",
            "critical",
            "2025-12-01 00:00:00",
            "2025-12-01 00:45:00",
            2700,
            4000,
            1800,
        ),
        (
            str(EPISODE_3),
            "SHENZHEN_BAY",
            "traveller",
            "exit",
            "forecast",
            "early-warning",
            "2025-12-02 00:30:00",
            None,
            None,
            2460,
            1800,
        ),
        (
            str(EPISODE_2),
            "HUANGGANG",
            "truck",
            "entry",
            "clearance",
            "warning",
            "2025-12-02 02:00:00",
            None,
            None,
            4000,
            3600,
        ),
    ]
    on_d2 = run(data, "alert_history", date_from=D2, date_to=D2)
    assert [r["episode_id"] for r in on_d2] == [str(EPISODE_3), str(EPISODE_2)]


def test_reconciliation(data):
    rows = run(data, "reconciliation", date_from=D1, date_to=D2, scale=0.1)
    assert [
        (r["day"], r["port_code"], r["direction"], int(r["expected"]), int(r["actual"]), int(r["difference"]))
        for r in rows
    ] == [
        (D1, "FUTIAN", "exit", 1, 1, 0),
        (D1, "LUOHU", "entry", 2, 1, -1),
        (D1, "LUOHU", "exit", 3, 3, 0),
        (D2, "LIANTANG", "exit", 0, 2, 2),
        (D2, "LUOHU", "entry", 0, 1, 1),
    ]
    at_full_scale = run(data, "reconciliation", date_from=D1, date_to=D1, scale=1)
    assert [int(r["expected"]) for r in at_full_scale] == [11, 25, 29]


def test_migrations_twice_change_nothing(data):
    tables = data.query("SHOW TABLES").rows
    applied = data.query("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version").rows
    assert migrate(data, ClickHouseSettings()) == []
    assert data.query("SHOW TABLES").rows == tables
    assert (
        data.query("SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version").rows == applied
    )
    assert [int(row[0]) for row in applied] == [m.version for m in load_migrations()[1:]]


def test_a_warehouse_migrated_before_the_forecast_episodes_gets_016_once(data, tmp_path):
    """016 adds the alerts' forecast columns to a warehouse that has alerts already: the rows
    loaded before it read as clearance episodes without advice. In a database of its own (chdb
    has one session per process: the session's database is restored after)."""
    migrations = load_migrations()
    before = [m for m in migrations if m.name != "alerts_forecast_episodes"]
    assert len(before) == len(migrations) - 1  # 016 is in the folder, and the rest goes first
    for migration in before:
        (tmp_path / migration.path.name).write_text(migration.text)
    [[current]] = data.query("SELECT currentDatabase()").rows
    data.command("CREATE DATABASE IF NOT EXISTS before_forecast")
    data.command("USE before_forecast")
    try:
        migrate(data, ClickHouseSettings(), tmp_path)
        data.insert("alerts", ALERT_COLUMNS, [(str(ALERTS[0][0]), *ALERTS[0][1:])])
        assert [m.name for m in migrate(data, ClickHouseSettings())] == ["alerts_forecast_episodes"]
        assert migrate(data, ClickHouseSettings()) == []
        rows = data.query(
            "SELECT toString(episode_id), episode_type, advice_port_code, advice_forecast_s, advice_difference_min "
            "FROM alerts FINAL"
        ).rows
        assert rows == [(str(EPISODE_1), "clearance", None, None, None)]
    finally:
        data.command("USE " + current)
        data.command("DROP DATABASE IF EXISTS before_forecast")


def test_load_statistics_one_week(data):
    load = load_statistics(data, STATISTICS, date(2024, 1, 1), date(2024, 1, 7))
    # 30 lines a day: 15 control points x 2 directions; 3 categories each.
    assert (load.lines, load.days, load.rows, load.rejections) == (210, 7, 630, [])
    lo_wu = data.query(
        "SELECT hk_direction, port_code, direction, category, travellers FROM official_daily_traffic FINAL "
        "WHERE day = '2024-01-01' AND control_point = 'Lo Wu' ORDER BY hk_direction, category"
    ).rows
    # Line 33664: 01-01-2024,Lo Wu,Arrival,85877,14525,539,100941 (HK arrival = Shenzhen exit).
    assert [tuple(row) for row in lo_wu] == [
        ("Arrival", "LUOHU", "exit", "foreign", 539),
        ("Arrival", "LUOHU", "exit", "hk-macao-resident", 85877),
        ("Arrival", "LUOHU", "exit", "mainland-resident", 14525),
        ("Departure", "LUOHU", "entry", "foreign", 731),
        ("Departure", "LUOHU", "entry", "hk-macao-resident", 38418),
        ("Departure", "LUOHU", "entry", "mainland-resident", 35087),
    ]
    airport = data.query("SELECT DISTINCT port_code FROM official_daily_traffic FINAL WHERE control_point = 'Airport'")
    assert airport.rows == [(None,)]
    # Loading again replaces rather than adds.
    load_statistics(data, STATISTICS, date(2024, 1, 1), date(2024, 1, 7))
    count = data.query(
        "SELECT count() FROM official_daily_traffic FINAL WHERE day BETWEEN '2024-01-01' AND '2024-01-07'"
    )
    assert int(count.rows[0][0]) == 630


@pytest.mark.parametrize("scale", ["0.1", "0.3", "1"])
def test_reconciliation_expects_what_the_replay_yields(data, scale):
    load_statistics(data, STATISTICS, date(2024, 1, 1), date(2024, 1, 7))
    rows = run(data, "reconciliation", date_from="2024-01-01", date_to="2024-01-07", scale=float(scale))
    expected = {(r["day"], r["port_code"], r["direction"]): int(r["expected"]) for r in rows}
    replay = ReplaySource(
        STATISTICS,
        date(2024, 1, 1),
        date(2024, 1, 7),
        scale,
        pseudonymiser=Pseudonymiser(SecretStr("0123456789abcdef" * 4)),
    )
    by_key: dict[tuple[str, str, str], int] = {}
    for (day, port, direction, _category), n in replay.expected_counts().items():
        key = (day.isoformat(), port, direction.value)
        by_key[key] = by_key.get(key, 0) + n
    assert expected == by_key
    if scale == "0.1":
        # Lo Wu arrival on 2024-01-01: 8587.7 -> 8588, 1452.5 -> 1452 (half to even), 53.9 -> 54.
        assert expected["2024-01-01", "LUOHU", "exit"] == 10094
