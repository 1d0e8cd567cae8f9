"""Clearance spike alerts with hysteresis.

An episode opens when a port/kind/direction's 5-minute p90 clearance is above the port's
threshold for 3 consecutive slides (never while the port is closed), and closes after 5
consecutive slides below 80% of the threshold. A missing slide (no crossings in 5 minutes)
counts as below, and so does a slide of fewer than 5 crossings: the p90 of one or two slow
trucks is no spike. Each episode gives exactly one `raised` and one `resolved` message; its
severity is `critical` once the p90 has exceeded twice the threshold, else `warning`.

`EpisodeTracker` is the state machine, plain Python and JSON-serialisable; `AlertEpisodes`
runs it per key in Flink. It sees one final slide per key and minute, so Python costs nothing
measurable here (no built-in operator expresses this hysteresis).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from pyflink.common import Row, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor

from schemas.ports import MIN_WINDOW_CROSSINGS, load_ports

RAISE_AFTER_SLIDES = 3
RESOLVE_AFTER_SLIDES = 5
RESOLVE_BELOW_FRACTION = 0.8
CRITICAL_FACTOR = 2
SLIDE = timedelta(minutes=1)
EPISODE_NAMESPACE = uuid.UUID("6f1c7a52-3c1e-4b8e-9a57-2f0d3e1b9c44")

ALERT_FIELDS = ["episode_id", "state", "severity", "port_code", "kind", "direction",
                "started_at", "ended_at", "peak_p90_s", "threshold_s"]
ALERT_TYPE = Types.ROW_NAMED(ALERT_FIELDS, [
    Types.STRING(), Types.STRING(), Types.STRING(), Types.STRING(), Types.STRING(),
    Types.STRING(), Types.STRING(), Types.STRING(), Types.DOUBLE(), Types.INT()])


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class EpisodeTracker:
    """Hysteresis for one port, kind and direction; feed it slides in window order."""

    port_code: str
    kind: str
    direction: str
    threshold_s: int
    last_end: str | None = None
    above_since: str | None = None
    above_run: int = 0
    run_peak: float = 0.0
    below_run: int = 0
    below_since: str | None = None
    episode: dict | None = field(default=None)

    def slide(self, window_end: datetime, p90_s: float, crossings: int, port_open: bool) -> list[dict]:
        """The alerts this slide causes, after counting any missing slides before it as below."""
        alerts = self.catch_up(window_end - SLIDE)
        if crossings < MIN_WINDOW_CROSSINGS:
            p90_s = 0.0
        return alerts + self._apply(window_end, p90_s if port_open else None)

    def catch_up(self, until: datetime) -> list[dict]:
        """Count the slides missing up to `until` (inclusive) as below the threshold."""
        alerts: list[dict] = []
        if self.last_end is None:
            return alerts
        last = datetime.fromisoformat(self.last_end)
        missing = int((until - last) / SLIDE)
        for step in range(1, min(missing, RESOLVE_AFTER_SLIDES) + 1):
            alerts += self._apply(last + step * SLIDE, 0.0)
        if missing > RESOLVE_AFTER_SLIDES:
            self.last_end = until.isoformat()
        return alerts

    @property
    def watching(self) -> bool:
        """Whether a missing slide could still change anything (a timer is needed)."""
        return self.episode is not None or self.above_run > 0

    def _apply(self, window_end: datetime, p90_s: float | None) -> list[dict]:
        """One slide; `p90_s` None = the port is closed, which never counts as above."""
        self.last_end = window_end.isoformat()
        above = p90_s is not None and p90_s > self.threshold_s
        if self.episode is None:
            if not above:
                self.above_run, self.above_since, self.run_peak = 0, None, 0.0
                return []
            self.above_run += 1
            self.above_since = self.above_since or window_end.isoformat()
            self.run_peak = max(self.run_peak, p90_s)
            if self.above_run < RAISE_AFTER_SLIDES:
                return []
            started = datetime.fromisoformat(self.above_since)
            self.episode = {
                "episode_id": str(uuid.uuid5(EPISODE_NAMESPACE, f"{self.key}/{_iso(started)}")),
                "started_at": _iso(started),
                "peak_p90_s": self.run_peak,
            }
            self.above_run, self.above_since, self.run_peak, self.below_run = 0, None, 0.0, 0
            return [self._message("raised", None)]
        self.episode["peak_p90_s"] = max(self.episode["peak_p90_s"], p90_s or 0.0)
        if (p90_s or 0.0) < RESOLVE_BELOW_FRACTION * self.threshold_s:
            self.below_run += 1
            self.below_since = self.below_since or window_end.isoformat()
        else:
            self.below_run, self.below_since = 0, None
        if self.below_run < RESOLVE_AFTER_SLIDES:
            return []
        message = self._message("resolved", _iso(datetime.fromisoformat(self.below_since)))
        self.episode, self.below_run, self.below_since = None, 0, None
        return [message]

    @property
    def key(self) -> str:
        return f"{self.port_code}/{self.kind}/{self.direction}"

    def _message(self, state: str, ended_at: str | None) -> dict:
        peak = self.episode["peak_p90_s"]
        return {
            "episode_id": self.episode["episode_id"], "state": state,
            "severity": "critical" if peak > CRITICAL_FACTOR * self.threshold_s else "warning",
            "port_code": self.port_code, "kind": self.kind, "direction": self.direction,
            "started_at": self.episode["started_at"], "ended_at": ended_at,
            "peak_p90_s": peak, "threshold_s": self.threshold_s,
        }

    def dump(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def restore(cls, dumped: str) -> EpisodeTracker:
        return cls(**json.loads(dumped))


class AlertEpisodes(KeyedProcessFunction):
    """Runs an `EpisodeTracker` per port/kind/direction over the final clearance slides."""

    def open(self, runtime_context: RuntimeContext) -> None:
        self.ports = load_ports()
        self.state = runtime_context.get_state(ValueStateDescriptor("episode-tracker", Types.STRING()))

    def process_element(self, slide: Row, ctx: KeyedProcessFunction.Context) -> Iterator[Row]:
        tracker = self._tracker(slide.port_code, slide.kind, slide.direction)
        window_end = slide.window_end.replace(tzinfo=UTC)
        port_open = self.ports.is_open(slide.port_code, slide.kind, window_end)
        yield from self._emit(tracker, tracker.slide(window_end, slide.p90_s, slide.crossings, port_open), ctx)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator[Row]:
        tracker = EpisodeTracker.restore(self.state.value())
        # Slides up to the watermark are known to be missing; at most enough to resolve.
        horizon = timestamp + int((RESOLVE_AFTER_SLIDES - 1) * SLIDE.total_seconds() * 1000)
        until = datetime.fromtimestamp(min(ctx.timer_service().current_watermark(), horizon) / 1000, UTC)
        yield from self._emit(tracker, tracker.catch_up(until), ctx)

    def _tracker(self, port_code: str, kind: str, direction: str) -> EpisodeTracker:
        dumped = self.state.value()
        if dumped is not None:
            return EpisodeTracker.restore(dumped)
        threshold = self.ports.get(port_code).clearance_threshold_s[kind]
        return EpisodeTracker(port_code, kind, direction, threshold)

    def _emit(self, tracker: EpisodeTracker, alerts: list[dict], ctx) -> Iterator[Row]:
        self.state.update(tracker.dump())
        if tracker.watching and tracker.last_end is not None:
            next_slide = datetime.fromisoformat(tracker.last_end) + SLIDE
            ctx.timer_service().register_event_time_timer(int(next_slide.timestamp() * 1000))
        for alert in alerts:
            yield Row(*(alert[name] for name in ALERT_FIELDS))
