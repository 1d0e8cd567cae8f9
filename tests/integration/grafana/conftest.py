"""The small hand-made data set of the Grafana tests: a few crossings, windows, an open alert
episode, forecasts and early warnings, a dead letter, pipeline counts and HK statistics, all on
2025-11-03 (UTC) but two early warnings of the day before."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.settings import ClickHouseSettings
from schemas.outputs import Alert, ClearanceForecast

DAY = datetime(2025, 11, 3, tzinfo=UTC)
STAMP = "%Y-%m-%d %H:%M:%S"

# kind, port, direction, channel, inspection mode, UTC hour:minute, clearance s, customs decision
CROSSINGS = [
    ("truck", "HUANGGANG", "exit", "freight-lane", "two-site", "02:00", 600, "released"),
    ("truck", "HUANGGANG", "entry", "freight-lane", "two-site", "02:10", 1200, "held"),
    ("truck", "LIANTANG", "entry", "freight-lane", "joint-one-release", "03:00", 900, "inspected-released"),
    ("truck", "SHENZHEN_BAY", "exit", "freight-lane", "co-location", "04:00", 1500, "released"),
    ("traveller", "LUOHU", "exit", "e-channel", "two-site", "02:05", 60, None),
    ("traveller", "LUOHU", "exit", "manual-counter", "two-site", "02:06", 240, None),
    ("traveller", "LUOHU", "entry", "e-channel", "two-site", "09:30", 45, None),
]
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
    "customs_decision",
    "kafka_partition",
    "kafka_offset",
    "loaded_at",
]
LOADED_AFTER = timedelta(seconds=20)  # from a crossing's release (and arrival in Kafka) to its row
EPISODE = "00000000-0000-4000-8000-0000000b0a01"

# port, kind, direction, target_at (UTC hh:mm, the end of the window forecast), horizon, p90 s:
# forecasts for three of the CROSSINGS' 5-minute windows and for one without crossings
FORECASTS = [
    ("HUANGGANG", "truck", "exit", "02:05", 30, 700.0),
    ("HUANGGANG", "truck", "exit", "02:05", 15, 650.0),
    ("HUANGGANG", "truck", "entry", "02:15", 30, 1500.0),
    ("LUOHU", "traveller", "exit", "02:10", 30, 100.0),  # not the other LUOHU exit window (ends 02:11)
    ("FUTIAN", "traveller", "exit", "05:00", 30, 400.0),  # no crossings in that window
]
# the tables: the messages' fields, then the loader's version
FORECAST_COLUMNS = [*ClearanceForecast.model_fields, "version"]
# Early warnings (forecast episodes), one row per state: episode, state, port, kind, direction,
# started, ended (UTC hh:mm of DAY, "-1d hh:mm" the day before), peak forecast s, threshold s,
# advice (port, forecast s, minutes less) or None, version
WARNINGS = [
    ("0b0a02", "raised", "SHENZHEN_BAY", "traveller", "exit", "03:30", None, 2100.0, 1800, ("FUTIAN", 900.0, 20.0), 1),
    ("0b0a03", "raised", "HUANGGANG", "truck", "exit", "01:30", None, 3700.0, 3600, ("LIANTANG", 1800.0, 31.7), 1),
    ("0b0a03", "resolved", "HUANGGANG", "truck", "exit", "01:30", "02:20", 3900.0, 3600, None, 2),
    ("0b0a04", "raised", "WENJINDU", "truck", "entry", "-1d 20:00", None, 3700.0, 3600, None, 1),  # still open
    ("0b0a05", "raised", "LUOHU", "traveller", "entry", "-1d 10:00", None, 1900.0, 1800, ("FUTIAN", 600.0, 21.7), 1),
    ("0b0a05", "resolved", "LUOHU", "traveller", "entry", "-1d 10:00", "-1d 10:40", 1900.0, 1800, None, 2),
]
WARNING_COLUMNS = [*Alert.model_fields, "version"]


def warning_id(short: str) -> str:
    return f"00000000-0000-4000-8000-000000{short}"


def crossing(
    key: str, kind: str, port: str, direction: str, released: datetime, *, clearance_s: int = 60, loaded: datetime
) -> tuple:
    """A row of CROSSING_COLUMNS: an e-channel crossing of `clearance_s` released at `released`
    and loaded at `loaded` (when it went through the pipeline), its ids derived from `key`."""
    queued = released - timedelta(seconds=clearance_s)
    inspected = released - timedelta(seconds=min(10, clearance_s))
    return (
        str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
        1,
        kind,
        port,
        direction,
        f"{key}-lane",
        "e-channel",
        "two-site",
        queued.strftime(STAMP),
        inspected.strftime(STAMP),
        released.strftime(STAMP),
        f"{key}-ref",
        None,
        0,
        0,
        loaded.strftime(STAMP),
    )


def _at(hhmm: str) -> datetime:
    """DAY at `hhmm` (UTC), or the day before with a "-1d " prefix."""
    day = DAY - timedelta(days=1) if hhmm.startswith("-1d ") else DAY
    hour, minute = map(int, hhmm.removeprefix("-1d ").split(":"))
    return day + timedelta(hours=hour, minutes=minute)


@pytest.fixture(scope="session")
def data(warehouse):
    """The day's rows in the session warehouse, once for every module of this folder."""
    migrate(warehouse, ClickHouseSettings())
    rows = []
    for index, (kind, port, direction, channel, mode, hhmm, clearance, decision) in enumerate(CROSSINGS):
        released = _at(hhmm)
        queued = released - timedelta(seconds=clearance)
        rows.append(
            (
                str(uuid.uuid5(uuid.NAMESPACE_URL, f"grafana-panels/{index}")),
                1,
                kind,
                port,
                direction,
                f"grafana-{port.lower()}-{index}",
                channel,
                mode,
                queued.strftime(STAMP),
                (released - timedelta(seconds=10)).strftime(STAMP),
                released.strftime(STAMP),
                f"grafana-ref-{index}",
                decision,
                0,
                index,
                (released + LOADED_AFTER).strftime(STAMP),
            )
        )
    warehouse.insert("crossings", CROSSING_COLUMNS, rows)
    windows = [
        (
            _at(hhmm).replace(second=0).strftime(STAMP),
            (_at(hhmm) + timedelta(minutes=1)).strftime(STAMP),
            port,
            kind,
            direction,
            channel,
            1,
            1,
        )
        for kind, port, direction, channel, _, hhmm, _, _ in CROSSINGS
    ]
    warehouse.insert(
        "throughput_windows",
        ["window_start", "window_end", "port_code", "kind", "direction", "channel_type", "crossings", "version"],
        windows,
    )
    clearance = [
        (
            _at(hhmm).strftime(STAMP),
            (_at(hhmm) + timedelta(minutes=5)).strftime(STAMP),
            port,
            kind,
            direction,
            1,
            float(s),
            float(s),
            float(s),
            float(s),
            float(s),
            1,
        )
        for kind, port, direction, _, _, hhmm, s, _ in CROSSINGS
    ]
    warehouse.insert(
        "clearance_windows",
        [
            "window_start",
            "window_end",
            "port_code",
            "kind",
            "direction",
            "crossings",
            "mean_s",
            "p50_s",
            "p90_s",
            "p99_s",
            "max_s",
            "version",
        ],
        clearance,
    )
    warehouse.insert(
        "alerts",
        # a row without episode_type, as loaded before migration 016: a clearance episode
        [
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
        ],
        [
            (
                EPISODE,
                "raised",
                "warning",
                "HUANGGANG",
                "truck",
                "entry",
                _at("02:10").strftime(STAMP),
                None,
                1200.0,
                900,
                1,
            )
        ],
    )
    warehouse.insert(
        "alerts",
        WARNING_COLUMNS,
        [
            (
                warning_id(short),
                state,
                "early-warning",
                port,
                kind,
                direction,
                _at(started).strftime(STAMP),
                ended and _at(ended).strftime(STAMP),
                peak,
                threshold,
                "forecast",
                *(advice or (None,) * 3),
                version,
            )
            for short, state, port, kind, direction, started, ended, peak, threshold, advice, version in WARNINGS
        ],
    )
    warehouse.insert(
        "clearance_forecast",
        FORECAST_COLUMNS,
        [
            (
                (_at(target) - timedelta(minutes=horizon)).strftime(STAMP),
                port,
                kind,
                direction,
                horizon,
                _at(target).strftime(STAMP),
                p90,
                p90,
                0.0,
                1.0,
                1.0,
                1,
            )
            for port, kind, direction, target, horizon, p90 in FORECASTS
        ],
    )
    warehouse.insert(
        "dead_letters",
        ["reason", "topic", "partition", "offset", "payload", "detected_at"],
        [("invalid-json", "crossings.raw.grafana-test", 0, 1, "{", _at("02:00").strftime(STAMP))],
    )
    warehouse.insert(
        "pipeline_counts",
        ["received_minute", "topic", "received", "clean", "dead_letters", "duplicates", "too_late", "version"],
        [(_at("02:00").strftime(STAMP), "crossings.raw.grafana-test", 10, 9, 1, 0, 0, 1)],
    )
    warehouse.insert(
        "official_daily_traffic",
        ["day", "control_point", "hk_direction", "port_code", "direction", "category", "travellers"],
        [
            ("2025-11-03", "Lo Wu", "Arrival", "LUOHU", "exit", "hk-macao-resident", 20),
            ("2025-11-03", "Lo Wu", "Departure", "LUOHU", "entry", "foreign", 10),
            ("2025-11-03", "Airport", "Arrival", None, "exit", "foreign", 500),
        ],
    )
    return warehouse
