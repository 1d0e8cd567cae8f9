"""`make bench-forecast`: the clearance forecast (pipeline/transforms/forecast.py) against
persistence and seasonal baselines on simulated days where the truth is known, and the lead
time of its early warnings. Prints one JSON document.

- Profile: learnt from `--history-days` normal days of other seeds (never an evaluated day).
- Error: the evaluation week is 7 simulated days with the scenarios (normal, surge, demo-day,
  port-closed), after a day 0 that only feeds the seasonal baseline. At every minute t of every
  port, kind and direction, each horizon h: the forecast of the p90 of the 5-minute window
  ending at t + h against that window's p90 (where it and the window ending at t hold >= 5
  crossings), the persistence baseline (the p90 now) and the seasonal one (the p90 of the same
  window the day before, else persistence). MAE in minutes.
- Lead time: on a demo-day, the clearance alert is raised by 3 consecutive windows above the
  port's threshold (alerts.py's rule, recomputed here), the early warning by the module's rule
  (`warning_episodes`: 3 consecutive minutes whose 30-minute forecast is above it); for each
  effect (the Shenzhen Bay surge from 08:00, the Huanggang closure from
  13:00) the first alert from its start against the warning raised since then.
  Lead = alert minute - warning minute.
- False warnings: 7 normal days; an early-warning episode (3 minutes above raise, resolved after
  5 minutes below 80 %, like the alerts) that no clearance alert follows within 60 minutes.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from connectors.sources.simulator import SimulatorSource
from pipeline.transforms.forecast import (
    HORIZONS_MIN,
    MINUTES_PER_DAY,
    MinuteAggregates,
    Profile,
    forecast,
    learn_profile,
    warning_episodes,
)
from schemas.enums import Kind
from schemas.ports import SHENZHEN_TZ, load_ports
from schemas.privacy import Pseudonymiser

WEEK = ("normal", "surge", "demo-day", "port-closed", "normal", "demo-day", "normal")
RAISE_MINUTES, RESOLVE_MINUTES, RESOLVE_SHARE = 3, 5, 0.8
FOLLOW_MIN = 60
# the demo-day's effects: key and the local minute the effect starts (scenarios.py)
LEAD_CASES = {
    "shenzhen-bay-surge": (("SHENZHEN_BAY", "traveller", "exit"), 8 * 60),
    "huanggang-closure": (("HUANGGANG", "truck", "exit"), 13 * 60),
}
TARGET_GAIN = 0.20
TARGET_LEAD_MIN = 15
TARGET_FALSE_PER_PORT_WEEK = 1

Key = tuple[str, str, str]


def simulate_day(
    day: date, seed: int, scenario: str, scale: float
) -> tuple[dict[Key, MinuteAggregates], dict[Key, dict[str, list[float]]]]:
    """Per key, the minute aggregates of one local day (minutes after local midnight; events
    released after the day are left out) and service times per lane."""
    start = datetime.combine(day, datetime.min.time(), SHENZHEN_TZ)
    source = SimulatorSource(
        start,
        24,
        seed=seed,
        scenario=scenario,
        pseudonymiser=Pseudonymiser(SecretStr("bench-forecast-" + "0" * 32)),
        scale=scale,
        scale_lanes=scale < 1,
    )
    origin = start.astimezone(UTC)
    aggregates: dict[Key, MinuteAggregates] = defaultdict(MinuteAggregates)
    services: dict[Key, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for event in source.events():
        released = int((event.released_at - origin).total_seconds() // 60)
        if released >= MINUTES_PER_DAY:
            continue
        key = (event.port_code, str(event.kind), str(event.direction))
        queued = int((event.queued_at - origin).total_seconds() // 60)
        clearance = (event.released_at - event.queued_at).total_seconds()
        aggregates[key].add(queued, released, clearance, event.lane_id)
        services[key][event.lane_id].append((event.released_at - event.inspection_started_at).total_seconds())
    return dict(aggregates), services


def episodes(above: list[bool], below: list[bool]) -> list[tuple[int, int | None]]:
    """(raised, resolved) minutes: raised after RAISE_MINUTES above, resolved after
    RESOLVE_MINUTES below."""
    result, run_above, run_below, open_at = [], 0, 0, None
    for m, (a, b) in enumerate(zip(above, below, strict=True)):
        run_above = run_above + 1 if a else 0
        run_below = run_below + 1 if b else 0
        if open_at is None and run_above >= RAISE_MINUTES:
            open_at = m
        elif open_at is not None and run_below >= RESOLVE_MINUTES:
            result.append((open_at, m))
            open_at = None
    if open_at is not None:
        result.append((open_at, None))
    return result


def alert_episodes(actual: list[float | None], limit: float) -> list[tuple[int, int | None]]:
    """Clearance alert episodes of a day's windows (a window under 5 crossings is below)."""
    return episodes(
        [a is not None and a > limit for a in actual], [a is None or a < RESOLVE_SHARE * limit for a in actual]
    )


def day_series(agg: MinuteAggregates, profile: Profile) -> tuple[list[float | None], dict[int, list[float]]]:
    """The actual p90 per minute (window ending at it) and the forecasts issued each minute."""
    actual = [agg.window_p90(m) for m in range(MINUTES_PER_DAY)]
    issued = {h: [0.0] * MINUTES_PER_DAY for h in HORIZONS_MIN}
    for t in range(MINUTES_PER_DAY):
        for f in forecast(agg, t, profile):
            issued[f.horizon_min][t] = f.p90_s
    return actual, issued


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="volume scale; lanes scaled too below 1 (the demo runs 0.1)"
    )
    parser.add_argument("--history-days", type=int, default=3)
    args = parser.parse_args()
    began, commit = time.monotonic(), _commit()  # the code that runs, not the HEAD at the end
    ports = load_ports()
    first = date(2024, 5, 1)

    history = [
        simulate_day(first - timedelta(days=10 + i), 1000 + i, "normal", args.scale) for i in range(args.history_days)
    ]
    keys = sorted({k for aggs, _ in history for k in aggs})
    profiles = {}
    for key in keys:
        lanes: dict[str, list[float]] = defaultdict(list)
        for _, services in history:
            for lane, values in services.get(key, {}).items():
                lanes[lane].extend(values)
        profiles[key] = learn_profile([aggs.get(key, MinuteAggregates()) for aggs, _ in history], lanes)

    def threshold(key: Key) -> float:
        return float(ports.get(key[0]).clearance_threshold_s[Kind(key[1])])

    # error over the scenario week
    days = [simulate_day(first, 1, "normal", args.scale)[0]]
    days += [simulate_day(first + timedelta(days=i + 1), i + 2, s, args.scale)[0] for i, s in enumerate(WEEK)]
    errors = {h: {"forecast": 0.0, "persistence": 0.0, "seasonal": 0.0, "n": 0} for h in HORIZONS_MIN}
    lead: dict[str, Any] = {}
    for d in range(1, len(days)):
        for key in keys:
            agg = days[d].get(key, MinuteAggregates())
            before = days[d - 1].get(key, MinuteAggregates())
            actual, issued = day_series(agg, profiles[key])
            yesterday = [before.window_p90(m) for m in range(MINUTES_PER_DAY)]
            for h in HORIZONS_MIN:
                e = errors[h]
                for t in range(MINUTES_PER_DAY - h):
                    truth, now = actual[t + h], actual[t]
                    if truth is None or now is None:
                        continue
                    seasonal = yesterday[t + h] if yesterday[t + h] is not None else now
                    e["forecast"] += abs(issued[h][t] - truth)
                    e["persistence"] += abs(now - truth)
                    e["seasonal"] += abs(seasonal - truth)
                    e["n"] += 1
            if WEEK[d - 1] == "demo-day":
                for case, (case_key, effect_start) in LEAD_CASES.items():
                    if case_key != key:
                        continue
                    limit = threshold(key)
                    # the first clearance alert from the effect's start on, and the early warning
                    # raised since then that is open when it comes (else the first one after it)
                    alerts = [a for a, _ in alert_episodes(actual, limit) if a >= effect_start]
                    warnings = [w for w, _ in warning_episodes(issued[30], limit) if w >= effect_start]
                    alert = alerts[0] if alerts else None
                    ahead = [w for w in warnings if alert is not None and w <= alert]
                    warning = ahead[-1] if ahead else (warnings[0] if warnings else None)
                    lead.setdefault(case, []).append(
                        {
                            "day": d,
                            "clearance_alert": _hhmm(alert),
                            "early_warning": _hhmm(warning),
                            "lead_min": alert - warning if alert is not None and warning is not None else None,
                        }
                    )
    mae = {}
    for h, e in errors.items():
        n = max(1, e["n"])
        fc, pe, se = (e[k] / n / 60 for k in ("forecast", "persistence", "seasonal"))
        mae[f"{h}min"] = {
            "forecast_mae_min": round(fc, 2),
            "persistence_mae_min": round(pe, 2),
            "seasonal_mae_min": round(se, 2),
            "gain_vs_persistence": round(1 - fc / pe, 3),
            "gain_vs_seasonal": round(1 - fc / se, 3),
            "points": e["n"],
        }

    # false warnings on 7 normal days
    false_per_port: dict[str, int] = defaultdict(int)
    warnings_total = 0
    for i in range(7):
        aggs = simulate_day(first + timedelta(days=20 + i), 500 + i, "normal", args.scale)[0]
        for key in keys:
            agg = aggs.get(key, MinuteAggregates())
            limit = threshold(key)
            actual, issued = day_series(agg, profiles[key])
            alerts = alert_episodes(actual, limit)
            warnings = warning_episodes(issued[30], limit)
            warnings_total += len(warnings)
            for w, _ in warnings:
                if not any(w <= a <= w + FOLLOW_MIN for a, _ in alerts):
                    false_per_port[key[0]] += 1

    leads = [c["lead_min"] for cases in lead.values() for c in cases]
    result = {
        "benchmark": "forecast",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "command": "make bench-forecast",
        "host": platform.node(),
        "scale": args.scale,
        "history_days": args.history_days,
        "week": list(WEEK),
        "mae": mae,
        "lead_time": lead,
        "normal_week": {
            "early_warnings": warnings_total,
            "not_followed_by_alert_per_port": dict(sorted(false_per_port.items())),
        },
        "targets": {
            "beats_baselines_by_20pct_every_horizon": all(
                m["gain_vs_persistence"] >= TARGET_GAIN and m["gain_vs_seasonal"] >= TARGET_GAIN for m in mae.values()
            ),
            "lead_at_least_15_min": bool(leads) and all(v is not None and v >= TARGET_LEAD_MIN for v in leads),
            "at_most_1_false_warning_per_port_week": all(
                v <= TARGET_FALSE_PER_PORT_WEEK for v in false_per_port.values()
            ),
        },
        "elapsed_s": round(time.monotonic() - began, 1),
    }
    print(json.dumps(result, indent=2))


def _hhmm(minute: int | None) -> str | None:
    return None if minute is None else f"{minute // 60:02d}:{minute % 60:02d}"


def _commit() -> str:
    """HEAD, with `-dirty` when the model or this benchmark differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "pipeline/transforms/forecast.py", "bench/forecast.py"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if changed else "")


if __name__ == "__main__":
    main()
