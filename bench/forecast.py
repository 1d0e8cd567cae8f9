"""`make bench-forecast`: the clearance forecast as the forecast job issues it
(pipeline/transforms/forecast_stream.py on the model of pipeline/transforms/forecast.py)
against persistence and seasonal baselines on simulated days where the truth is known, and the
lead time of its early warnings. Prints one JSON document.

- Profile: learnt from `--history-days` normal days of other seeds (never an evaluated day).
- The job: each simulated day's crossings as the rows of `minute_aggregates` (per port, kind,
  direction and released minute: clearance, queued minute, lane) go into `add_minute` minute by
  minute, and the job's timer (`fire`, which calls `issue`) runs at every minute (epoch
  minutes, `DAY_OFFSET_MIN`), so the forecast at t sees only the crossings released before t.
  Its state runs on across consecutive days, from a warm-up day that is not evaluated.
- Error: the evaluation week is 7 simulated days with the scenarios (normal, surge, demo-day,
  port-closed), after a day 0 that only feeds the seasonal baseline and the job's state. At
  every minute t of every port, kind and direction, each horizon h: the forecast issued at t of
  the p90 of the 5-minute window ending at t + h against that window's p90 (where it and the
  window ending at t hold >= 5 crossings), the persistence baseline (the p90 now) and the
  seasonal one (the p90 of the same window the day before, else persistence). MAE in minutes.
- Lead time: on a demo-day, the clearance alert is raised by 3 consecutive windows above the
  port's threshold (alerts.py's rule, recomputed here), the early warning is the job's (raised
  by `issue`: 3 consecutive minutes whose 30-minute forecast is above it, a closed
  port counting as below); for each effect (the Shenzhen Bay surge from 08:00, the Huanggang
  closure from 13:00) the first alert from its start against the warning raised since then
  and still open when it comes, else the first raised after it. Lead = alert minute - warning
  minute.
- False warnings: 7 normal days; an early warning the job raises (resolved after 5 minutes
  below 80 %, like the alerts) that no clearance alert follows within 60 minutes.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from pydantic import SecretStr

from connectors.sources.simulator import SimulatorSource
from pipeline.transforms.forecast import (
    HORIZONS_MIN,
    MINUTES_PER_DAY,
    MinuteAggregates,
    Profile,
    learn_profile,
)
from pipeline.transforms.forecast_stream import KeyState, MinuteRow, add_minute, fire
from schemas.enums import Kind
from schemas.ports import SHENZHEN_TZ, PortRegistry, load_ports
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
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

Key = tuple[str, str, str]
StreamKey = tuple[str, str]  # kind, direction: the job's key


class Crossing(Protocol):
    port_code: str
    kind: Any
    direction: Any
    lane_id: str
    queued_at: datetime
    released_at: datetime


@dataclass
class Day:
    """One simulated local day: per key its minute aggregates (minutes after local midnight;
    events released after the day are left out) and service times per lane, and per kind and
    direction the job's minute rows by epoch minute."""

    origin: int  # the epoch minute of local midnight
    aggregates: dict[Key, MinuteAggregates]
    services: dict[Key, dict[str, list[float]]]
    rows: dict[StreamKey, dict[int, list[MinuteRow]]]


def epoch_minute(at: datetime) -> int:
    return (at - EPOCH) // MINUTE


class MinuteRows:
    """The rows `minute_aggregates` gives for the crossings added: per kind and direction, by
    epoch minute of release, one row per port (ports in name order) with each crossing's
    clearance (exact to the microsecond), queued minute and lane."""

    def __init__(self) -> None:
        self._grouped: dict[tuple[StreamKey, int, str], tuple[list[float], list[int], list[str]]] = defaultdict(
            lambda: ([], [], [])
        )

    def add(self, c: Crossing) -> None:
        clearances, queued, lanes = self._grouped[
            ((str(c.kind), str(c.direction)), epoch_minute(c.released_at), c.port_code)
        ]
        clearances.append((c.released_at - c.queued_at).total_seconds())
        queued.append(epoch_minute(c.queued_at))
        lanes.append(c.lane_id)

    def rows(self) -> dict[StreamKey, dict[int, list[MinuteRow]]]:
        result: dict[StreamKey, dict[int, list[MinuteRow]]] = defaultdict(lambda: defaultdict(list))
        for (key, minute, port), (clearances, queued, lanes) in sorted(self._grouped.items()):
            result[key][minute].append(MinuteRow(port, minute, clearances, queued, lanes))
        return result


def simulate_day(day: date, seed: int, scenario: str, scale: float) -> Day:
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
    rows = MinuteRows()
    for event in source.events():
        released = int((event.released_at - origin).total_seconds() // 60)
        if released >= MINUTES_PER_DAY:
            continue
        key = (event.port_code, str(event.kind), str(event.direction))
        queued = int((event.queued_at - origin).total_seconds() // 60)
        clearance = (event.released_at - event.queued_at).total_seconds()
        aggregates[key].add(queued, released, clearance, event.lane_id)
        services[key][event.lane_id].append((event.released_at - event.inspection_started_at).total_seconds())
        rows.add(event)
    return Day(epoch_minute(origin), dict(aggregates), services, rows.rows())


@dataclass
class Episode:
    """An early warning of the job: the minutes `issue` raised and resolved it (epoch), and the
    diversion advice it was raised with."""

    raised: int
    resolved: int | None = None
    advice_port_code: str | None = None
    advice_difference_min: float | None = None


# per key, the forecast of each horizon at each minute of a day (None where the job issued none)
Forecasts = dict[Key, dict[int, list[float | None]]]


class Job:
    """The forecast job's keyed state (a KeyState per kind and direction) and its early
    warnings, run over consecutive days: each minute t, the timer of t (`fire`: every release
    before t final), then the rows of minute t (pending until the timer of t + 1). Ports
    without a profile are skipped, as the job does."""

    def __init__(self, profiles: Mapping[Key, Profile], registry: PortRegistry) -> None:
        self.profiles, self.registry = profiles, registry
        self.states: dict[StreamKey, KeyState] = defaultdict(KeyState)
        self.warnings: dict[Key, list[Episode]] = defaultdict(list)

    def run_day(self, day: Day) -> Forecasts:
        """The day's forecasts; its early warnings go to `warnings`."""
        result: Forecasts = {}
        for kind, direction in sorted(set(self.states) | set(day.rows)):
            state, rows = self.states[(kind, direction)], day.rows.get((kind, direction), {})
            for t in range(day.origin, day.origin + MINUTES_PER_DAY):
                issued = fire(state, kind, direction, t, self.profiles, self.registry)
                for f in issued.forecasts:
                    key = (f["port_code"], kind, direction)
                    series = result.setdefault(key, {h: [None] * MINUTES_PER_DAY for h in HORIZONS_MIN})
                    series[f["horizon_min"]][t - day.origin] = f["p90_s"]
                for a in issued.alerts:
                    self._record((a["port_code"], kind, direction), a, t)
                for row in rows.get(t, ()):
                    if (row.port_code, kind, direction) in self.profiles:
                        threshold = self.registry.get(row.port_code).clearance_threshold_s[Kind(kind)]
                        add_minute(state.ports, row, threshold)
        return result

    def _record(self, key: Key, alert: Mapping[str, Any], t: int) -> None:
        if alert["state"] == "raised":
            self.warnings[key].append(Episode(t, None, alert["advice_port_code"], alert["advice_difference_min"]))
        else:
            self.warnings[key][-1].resolved = t


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


def lead_warning(warnings: list[Episode], alert: int | None) -> Episode | None:
    """Of the warnings raised since an effect's start, the one open when its clearance alert is
    raised (the latest raised by then), else the first raised after it."""
    if alert is not None:
        open_then = [w for w in warnings if w.raised <= alert and (w.resolved is None or w.resolved > alert)]
        if open_then:
            return open_then[-1]
    after = [w for w in warnings if alert is None or w.raised > alert]
    return after[0] if after else None


def day_warnings(warnings: list[Episode], day: Day) -> list[Episode]:
    """The warnings raised during a day, in minutes of the day."""
    return [
        Episode(
            w.raised - day.origin,
            None if w.resolved is None else w.resolved - day.origin,
            w.advice_port_code,
            w.advice_difference_min,
        )
        for w in warnings
        if 0 <= w.raised - day.origin < MINUTES_PER_DAY
    ]


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
    keys = sorted({k for day in history for k in day.aggregates})
    profiles = {}
    for key in keys:
        lanes: dict[str, list[float]] = defaultdict(list)
        for day in history:
            for lane, values in day.services.get(key, {}).items():
                lanes[lane].extend(values)
        profiles[key] = learn_profile([day.aggregates.get(key, MinuteAggregates()) for day in history], lanes)
    del history

    def threshold(key: Key) -> float:
        return float(ports.get(key[0]).clearance_threshold_s[Kind(key[1])])

    def run(day: Day, job: Job) -> Forecasts:
        """The day through the job; its rows, large, dropped once issued."""
        forecasts = job.run_day(day)
        day.rows = {}
        return forecasts

    # error over the scenario week; day 0 feeds the seasonal baseline and warms the job up
    job = Job(profiles, ports)
    previous = simulate_day(first, 1, "normal", args.scale)
    run(previous, job)
    errors = {h: {"forecast": 0.0, "persistence": 0.0, "seasonal": 0.0, "n": 0, "not_issued": 0} for h in HORIZONS_MIN}
    lead: dict[str, Any] = {}
    for d, scenario in enumerate(WEEK, start=1):
        day = simulate_day(first + timedelta(days=d), d + 1, scenario, args.scale)
        forecasts = run(day, job)
        for key in keys:
            agg = day.aggregates.get(key, MinuteAggregates())
            before = previous.aggregates.get(key, MinuteAggregates())
            actual = [agg.window_p90(m) for m in range(MINUTES_PER_DAY)]
            yesterday = [before.window_p90(m) for m in range(MINUTES_PER_DAY)]
            series = forecasts.get(key, {})
            for h in HORIZONS_MIN:
                e, predicted = errors[h], series.get(h, [None] * MINUTES_PER_DAY)
                for t in range(MINUTES_PER_DAY - h):
                    truth, now = actual[t + h], actual[t]
                    if truth is None or now is None:
                        continue
                    if predicted[t] is None:
                        e["not_issued"] += 1
                        continue
                    seasonal = yesterday[t + h] if yesterday[t + h] is not None else now
                    e["forecast"] += abs(predicted[t] - truth)
                    e["persistence"] += abs(now - truth)
                    e["seasonal"] += abs(seasonal - truth)
                    e["n"] += 1
            if scenario == "demo-day":
                for case, (case_key, effect_start) in LEAD_CASES.items():
                    if case_key != key:
                        continue
                    alerts = [a for a, _ in alert_episodes(actual, threshold(key)) if a >= effect_start]
                    alert = alerts[0] if alerts else None
                    since = [w for w in day_warnings(job.warnings[key], day) if w.raised >= effect_start]
                    warning = lead_warning(since, alert)
                    lead.setdefault(case, []).append(
                        {
                            "day": d,
                            "clearance_alert": _hhmm(alert),
                            "early_warning": _hhmm(warning.raised if warning else None),
                            "lead_min": alert - warning.raised if alert is not None and warning else None,
                            "early_warning_resolved": _hhmm(warning.resolved if warning else None),
                            "advice_port_code": warning.advice_port_code if warning else None,
                            "advice_difference_min": warning.advice_difference_min if warning else None,
                        }
                    )
        previous = day
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
            "points_not_issued": e["not_issued"],
        }
    del previous, day

    # false warnings on 7 normal days, after a warm-up day
    job = Job(profiles, ports)
    run(simulate_day(first + timedelta(days=19), 499, "normal", args.scale), job)
    false_per_port: dict[str, int] = defaultdict(int)
    warnings_total = 0
    for i in range(7):
        day = simulate_day(first + timedelta(days=20 + i), 500 + i, "normal", args.scale)
        run(day, job)
        for key in keys:
            agg = day.aggregates.get(key, MinuteAggregates())
            alerts = alert_episodes([agg.window_p90(m) for m in range(MINUTES_PER_DAY)], threshold(key))
            warnings = day_warnings(job.warnings[key], day)
            warnings_total += len(warnings)
            for w in warnings:
                if not any(w.raised <= a <= w.raised + FOLLOW_MIN for a, _ in alerts):
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
        "issued_by": "the forecast job's add_minute and fire, minute by minute, after a warm-up day",
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
    """HEAD, with `-dirty` when the model, the job's logic or this benchmark differ from it."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--",
                "pipeline/transforms/forecast.py",
                "pipeline/transforms/forecast_stream.py",
                "bench/forecast.py",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + ("-dirty" if changed else "")


if __name__ == "__main__":
    main()
