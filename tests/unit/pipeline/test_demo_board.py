"""The demo's simulated period and its terminal board, drawn from a snapshot (no services)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from rich.console import Console

from connectors.sources.simulator import simulated_period
from pipeline.demo.board import PortLine, Snapshot, render
from schemas.ports import SHENZHEN_TZ


def test_the_period_ends_at_the_last_shenzhen_midnight():
    start, end = simulated_period(24, today=date(2026, 11, 27))
    assert (start, end) == (datetime(2026, 11, 26, tzinfo=SHENZHEN_TZ), datetime(2026, 11, 27, tzinfo=SHENZHEN_TZ))
    start, end = simulated_period(30, today=date(2026, 11, 27))  # two days back, ends at 06:00 yesterday
    assert start == datetime(2026, 11, 25, tzinfo=SHENZHEN_TZ) and end == datetime(2026, 11, 26, 6, tzinfo=SHENZHEN_TZ)
    assert simulated_period(2, today=date(2026, 11, 27)) == (
        datetime(2026, 11, 26, tzinfo=SHENZHEN_TZ),
        datetime(2026, 11, 26, 2, tzinfo=SHENZHEN_TZ),
    )


def _text(snapshot: Snapshot) -> str:
    console = Console(width=160, record=True, color_system=None)
    console.print(render(snapshot))
    return console.export_text()


def test_the_board_shows_ports_alerts_and_the_pipeline():
    snapshot = Snapshot(
        sim_now=datetime(2026, 11, 26, 2, 30, tzinfo=UTC),
        speed=240,
        produced=12345,
        elapsed_s=95,
        consumer_lag=17,
        freshness_s=600,
        ports=[
            PortLine("SHENZHEN_BAY", "Shenzhen Bay Port", crossings=4321, per_minute=42, p90_s=2400, alerting=True),
            PortLine("LUOHU", "Luohu Port"),
        ],
        open_alerts=[
            {
                "port_code": "SHENZHEN_BAY",
                "kind": "traveller",
                "direction": "exit",
                "severity": "warning",
                "raised_at": "2026-11-26 01:50:00",
                "peak_p90_s": 2400.0,
                "threshold_s": 1800,
            }
        ],
        counts={"received": 12000, "clean": 11900, "dead_letters": 60, "duplicates": 40, "too_late": 3},
        early_warnings=[
            {
                "port_code": "LUOHU",
                "kind": "traveller",
                "direction": "exit",
                "raised_at": "2026-11-26 01:20:00",
                "resolved_at": None,
                "peak_forecast_s": 2700.0,
                "threshold_s": 1800,
                "advice": "divert to FUTIAN: expected 12 min, 33.0 min less",
            }
        ],
    )
    text = _text(snapshot)
    assert "simulated 2026-11-26 10:30 (Asia/Shanghai) at x240" in text
    cells = [cell.strip() for cell in next(line for line in text.splitlines() if "Shenzhen Bay" in line).split("│")]
    assert cells[1:6] == ["Shenzhen Bay Port", "42", "4,321", "40.0 min", "OPEN"]
    luohu = next(line for line in text.splitlines() if "Luohu Port" in line)
    assert "OPEN" not in luohu and " - " in luohu
    assert "Open alert episodes: 1" in text
    raised_row = next(line for line in text.splitlines() if "SHENZHEN_BAY" in line and "traveller" in line)
    assert "09:50" in raised_row and "30.0 min" in raised_row  # raised 01:50 UTC = 09:50 local
    assert "Open early warnings (30-minute forecast): 1" in text
    warning_row = next(line for line in text.splitlines() if "LUOHU" in line and "traveller" in line)
    cells = [cell.strip() for cell in warning_row.split("│")]
    assert cells[1:8] == [
        "LUOHU",
        "traveller",
        "exit",
        "09:20",
        "45.0 min",
        "30.0 min",
        "divert to FUTIAN: expected 12 min, 33.0 min less",
    ]
    assert (
        "produced 12,345  received 12,000  clean 11,900  dead letters 60  duplicates 40  late 3  loader lag 17"
    ) in " ".join(text.split("\n"))
    assert "10.0 min simulated = 2.5 s real" in text.replace("\n", " ")
