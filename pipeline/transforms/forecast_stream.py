"""The clearance forecast on the stream (issue 21): the model of `forecast.py` run once per
port, kind, direction and minute on per-minute aggregates of the clean crossings.

- `minute_aggregates`: Flink SQL, a 1-minute tumbling window on released_at per port, kind and
  direction holding what `MinuteAggregates.add` takes of each crossing (its clearance, its
  queued_at minute, its lane): no Python call per event.
- `ForecastFunction`: keyed by kind and direction, so one key sees every peer port of its kind
  and direction (diversion advice needs them). It keeps per port the aggregates of the last
  `HISTORY_MIN` minutes and the early warning's state, and when the watermark passes minute t
  (every release before t final) issues the forecasts of t for each port, and steps its early
  warning with the 30-minute forecast. The logic is `add_minute` and `fire` on a plain
  `KeyState`, so it runs without Flink too.

Minutes are epoch minutes (UTC); the profiles are per Shenzhen minute of day (UTC+8), so
`day_offset_min` is 480. A port is forecast each minute up to the longest horizon after a
minute it released crossings in: timers never chain beyond, also under the final watermark of a
bounded run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pyflink.common import Row, Types
from pyflink.common.typeinfo import TypeInformation
from pyflink.datastream import KeyedProcessFunction, OutputTag, RuntimeContext
from pyflink.datastream.state import ValueStateDescriptor
from pyflink.table import Table, TableEnvironment

from pipeline.transforms.forecast import (
    HORIZONS_MIN,
    MINUTES_PER_DAY,
    WARNING_HORIZON_MIN,
    EarlyWarning,
    MinuteAggregates,
    Profile,
    ProfileKey,
    WarningEvent,
    diversion_advice,
    forecast,
    profiles_from_json,
)
from pipeline.transforms.sql import plus_seconds
from schemas.outputs import Alert, ClearanceForecast, OutputMessage, flink_type
from schemas.ports import PortRegistry, load_ports

log = logging.getLogger(__name__)

DAY_OFFSET_MIN = 480  # epoch minute 0 is 08:00 in Shenzhen (UTC+8)
# minutes of aggregates kept: the model reads releases and lanes of the last 30 minutes, and the
# arrivals of 15 minutes before t - 1.2 x the p90 clearance: exact up to a p90 of 187 minutes
HISTORY_MIN = 240
LAST_HORIZON_MIN = max(HORIZONS_MIN)
# the namespace of the clearance episodes' ids (pipeline/jvm/.../AlertEpisodes.java); a forecast
# episode's name ends in /forecast, so the two kinds never share an id
EPISODE_NAMESPACE = uuid.UUID("6f1c7a52-3c1e-4b8e-9a57-2f0d3e1b9c44")

_ISO = "yyyy-MM-dd''T''HH:mm:ss"
# the clean topic's columns the forecast reads; times are ISO-8601 UTC text with a 'Z'
CLEAN_COLUMNS = (
    "port_code STRING, kind STRING, direction STRING, lane_id STRING, queued_at STRING, released_at STRING, "
    f"released_time AS TO_TIMESTAMP(SUBSTRING(released_at, 1, 19), '{_ISO}')"
)


def clean_watermark(out_of_orderness_s: int) -> str:
    return f"WATERMARK FOR released_time AS {plus_seconds('released_time', -out_of_orderness_s)}"


def _epoch_s(text: str) -> str:
    return f"UNIX_TIMESTAMP(SUBSTRING({text}, 1, 19), '{_ISO}')"


def _micros(text: str) -> str:
    """The fraction of a second of ISO text ('...:18.5Z', '...:18Z') in whole microseconds."""
    return f"CAST(RPAD(SUBSTRING({text}, 21, GREATEST(CHAR_LENGTH({text}) - 21, 0)), 6, '0') AS BIGINT)"


def minute_aggregates(env: TableEnvironment, clean: Table) -> Table:
    """Per port, kind, direction and minute of released_at (`minute`, an epoch minute), of each
    crossing released: its clearance in whole microseconds (as Python's timedelta holds it), its
    queued_at minute and its lane, as three comma-separated lists in the same order. `clean`
    has CLEAN_COLUMNS and a watermark on released_time. The rows are final (the window fires
    once the watermark passes its end), with the window's end as their event time."""
    crossings = env.sql_query(f"""
        SELECT port_code, kind, direction, lane_id, released_time,
          {_epoch_s("queued_at")} / 60 AS queued_minute,
          ({_epoch_s("released_at")} - {_epoch_s("queued_at")}) * 1000000
            + {_micros("released_at")} - {_micros("queued_at")} AS clearance_us
        FROM {clean}""")
    return env.sql_query(f"""
        SELECT port_code, kind, direction,
          CAST(TIMESTAMPDIFF(MINUTE, TIMESTAMP '1970-01-01 00:00:00', window_start) AS BIGINT) AS `minute`,
          LISTAGG(CAST(clearance_us AS STRING)) AS clearances_us,
          LISTAGG(CAST(queued_minute AS STRING)) AS queued_minutes,
          LISTAGG(lane_id) AS lanes,
          window_time
        FROM TABLE(TUMBLE(TABLE {crossings}, DESCRIPTOR(released_time), INTERVAL '1' MINUTE))
        GROUP BY port_code, kind, direction, window_start, window_end, window_time""")


@dataclass
class PortState:
    """What the forecast keeps of one port of a key: its recent aggregates, the minute span of
    its releases, its early warning, and the crossings of minutes not yet forecast from (when
    the watermark jumps minutes at once, a later minute's row comes before an earlier minute's
    timer: the forecast at t must not see releases from t on)."""

    aggregates: MinuteAggregates
    warning: EarlyWarning
    first_minute: int  # the first minute it released in
    last_minute: int  # the latest in `aggregates`
    pending: dict[int, list[tuple[int, float, str]]] = field(default_factory=dict)  # queued, clearance, lane

    def release_before(self, t: int) -> None:
        """Moves the pending crossings released before minute t into the aggregates."""
        for minute in sorted(m for m in self.pending if m < t):
            for queued, clearance, lane in self.pending.pop(minute):
                self.aggregates.add(queued, minute, clearance, lane)
            self.last_minute = max(self.last_minute, minute)

    def issues_at(self, t: int) -> bool:
        """Whether minute t gets a forecast: after its first release, at most the longest
        horizon after its latest."""
        return self.first_minute < t <= self.last_minute + LAST_HORIZON_MIN

    def prune(self, t: int) -> None:
        """Forget the minutes before t - HISTORY_MIN."""
        oldest = t - HISTORY_MIN
        for by_minute in (self.aggregates.arrivals, self.aggregates.releases, self.aggregates.lanes):
            for minute in [m for m in by_minute if m < oldest]:
                del by_minute[minute]


@dataclass(frozen=True)
class MinuteRow:
    """One row of `minute_aggregates`: per crossing released in `minute`, its clearance (s),
    queued_at minute and lane."""

    port_code: str
    minute: int
    clearances_s: Sequence[float]
    queued_minutes: Sequence[int]
    lanes: Sequence[str]

    @classmethod
    def of(cls, row: Row) -> MinuteRow:
        return cls(
            row.port_code,
            row.minute,
            [int(us) / 1_000_000 for us in row.clearances_us.split(",")],
            [int(minute) for minute in row.queued_minutes.split(",")],
            row.lanes.split(","),
        )


@dataclass
class Issued:
    """What minutes give one key: forecast and alert messages (field dicts of their models)
    and the next minute that needs its timer, if any."""

    forecasts: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    next_minute: int | None = None


def iso_minute(minute: int) -> str:
    return datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def add_minute(ports: MutableMapping[str, PortState], row: MinuteRow, threshold_s: float) -> int:
    """Adds a minute's releases of one port, pending until the forecast of the minute after
    (a new port's early warning on `threshold_s`); returns that minute (its timer)."""
    state = ports.get(row.port_code)
    if state is None:
        state = PortState(MinuteAggregates(), EarlyWarning(threshold_s), row.minute, row.minute)
    state.first_minute = min(state.first_minute, row.minute)
    crossings = zip(row.queued_minutes, row.clearances_s, row.lanes, strict=True)
    state.pending.setdefault(row.minute, []).extend(crossings)
    ports[row.port_code] = state
    return row.minute + 1


def issue(
    ports: MutableMapping[str, PortState],
    kind: str,
    direction: str,
    t: int,
    profiles: Mapping[ProfileKey, Profile],
    registry: PortRegistry,
) -> Issued:
    """The forecasts of minute t for every port of a key that issues at t, each port's early
    warning stepped with its 30-minute forecast (a closed port counts as below), the raised
    and resolved warnings as alerts with the diversion advice among the peers issuing at t."""
    issued = Issued()
    at = datetime.fromtimestamp(t * 60, UTC)
    warnings: dict[str, WarningEvent] = {}
    in_30: dict[str, float] = {}
    for code, state in sorted(ports.items()):
        state.release_before(t)
        if not state.issues_at(t):
            continue
        profile = profiles[(code, kind, direction)]
        for result in forecast(state.aggregates, t, profile, day_offset_min=DAY_OFFSET_MIN):
            target = t + result.horizon_min
            issued.forecasts.append(
                {
                    "issued_at": iso_minute(t),
                    "port_code": code,
                    "kind": kind,
                    "direction": direction,
                    "horizon_min": result.horizon_min,
                    "target_at": iso_minute(target),
                    "p90_s": result.p90_s,
                    "usual_p90_s": profile.usual_p90_s[(target + DAY_OFFSET_MIN) % MINUTES_PER_DAY],
                    "queue": result.queue,
                    "capacity_per_min": result.capacity_per_min,
                    "arrival_ratio": result.arrival_ratio,
                }
            )
            if result.horizon_min == WARNING_HORIZON_MIN:
                in_30[code] = result.p90_s
        event = state.warning.step(t, in_30.get(code), port_open=registry.is_open(code, kind, at))
        if event is not None:
            warnings[code] = event
    for code, event in warnings.items():
        issued.alerts.append(alert(code, kind, direction, event, in_30))
    for state in ports.values():
        state.prune(t)
    return issued


@dataclass
class KeyState:
    """What the forecast keeps of one kind and direction: its ports, and the last minute it
    issued."""

    ports: dict[str, PortState] = field(default_factory=dict)
    issued_through: int | None = None


def fire(
    state: KeyState,
    kind: str,
    direction: str,
    t: int,
    profiles: Mapping[ProfileKey, Profile],
    registry: PortRegistry,
) -> Issued:
    """The timer of minute t: `issue` for every minute after the last issued (the first: after
    the first release), up to t, and the next minute's timer while a port still issues. A timer
    of a minute already issued gives nothing: PyFlink hands the timers a function registers to
    the JVM after the bundle, so one registered for a minute the watermark has passed fires
    again, or late."""
    if state.issued_through is not None and t <= state.issued_through:
        return Issued()
    issued = Issued()
    if state.issued_through is None:
        start = min((port.first_minute + 1 for port in state.ports.values()), default=t)
    else:
        start = state.issued_through + 1
    for minute in range(start, t + 1):
        step = issue(state.ports, kind, direction, minute, profiles, registry)
        issued.forecasts += step.forecasts
        issued.alerts += step.alerts
    state.issued_through = t
    if any(port.issues_at(t + 1) for port in state.ports.values()):
        issued.next_minute = t + 1
    return issued


def episode_id(port_code: str, kind: str, direction: str, raised_minute: int) -> str:
    """The same id for the same episode in every run (a replay gives the same)."""
    return str(uuid.uuid5(EPISODE_NAMESPACE, f"{port_code}/{kind}/{direction}/{iso_minute(raised_minute)}/forecast"))


def alert(port_code: str, kind: str, direction: str, event: WarningEvent, in_30: Mapping[str, float]) -> dict:
    """The Alert message of an early warning's state, with its diversion advice."""
    advice = diversion_advice(port_code, kind, in_30)
    return {
        "episode_id": episode_id(port_code, kind, direction, event.started_at),
        "state": event.state,
        "severity": event.severity,
        "port_code": port_code,
        "kind": kind,
        "direction": direction,
        "started_at": iso_minute(event.started_at),
        "ended_at": iso_minute(event.minute) if event.state == "resolved" else None,
        "peak_p90_s": event.peak_forecast_s,
        "threshold_s": int(event.threshold_s),
        "episode_type": event.episode_type,
        "advice_port_code": advice.port_code if advice else None,
        "advice_forecast_s": advice.forecast_s if advice else None,
        "advice_difference_min": advice.difference_min if advice else None,
    }


_TYPE_INFO = {"STRING": Types.STRING, "DOUBLE": Types.DOUBLE, "INT": Types.INT, "BIGINT": Types.LONG}


def message_row_type(message: type[OutputMessage]) -> TypeInformation:
    """The DataStream row type of an output message, its fields in order."""
    names = list(message.model_fields)
    return Types.ROW_NAMED(names, [_TYPE_INFO[flink_type(field)]() for field in message.model_fields.values()])


def message_row(message: type[OutputMessage], values: Mapping[str, object]) -> Row:
    return Row(*(values[name] for name in message.model_fields))


FORECAST_ROW = message_row_type(ClearanceForecast)
ALERTS_TAG = OutputTag("forecast-alerts", message_row_type(Alert))


def minute_key(row: Row) -> str:
    """The key of a minute row: its kind and direction."""
    return f"{row.kind}/{row.direction}"


class ForecastFunction(KeyedProcessFunction):
    """`add_minute` and `issue` on the stream of `minute_aggregates`, keyed by `minute_key`:
    ClearanceForecast rows out, Alert rows to ALERTS_TAG. State: the KeyState (pickled), read
    and written once per row or timer (a few ports a key; the
    Python state cache writes it back once per bundle). Ports without a profile or not in the
    registry are skipped, logged once."""

    def __init__(self, profiles_json: str) -> None:
        self.profiles_json = profiles_json
        self.profiles: dict[ProfileKey, Profile] = {}
        self.registry: PortRegistry | None = None
        self.skipped: set[ProfileKey] = set()
        self.state = None

    def open(self, runtime_context: RuntimeContext) -> None:
        self.profiles = profiles_from_json(self.profiles_json)
        self.registry = load_ports()
        self.state = runtime_context.get_state(ValueStateDescriptor("forecast", Types.PICKLED_BYTE_ARRAY()))

    def process_element(self, value: Row, ctx: KeyedProcessFunction.Context) -> None:
        key = (value.port_code, value.kind, value.direction)
        if key not in self.profiles or value.port_code not in self.registry:
            if key not in self.skipped:
                self.skipped.add(key)
                log.warning("no forecast for %s: no profile, or not a registered port", "/".join(key))
            return
        threshold = self.registry.get(value.port_code).clearance_threshold_s[value.kind]
        state = self.state.value() or KeyState()
        minute = add_minute(state.ports, MinuteRow.of(value), threshold)
        self.state.update(state)
        ctx.timer_service().register_event_time_timer(minute * 60_000 - 1)

    def on_timer(self, timestamp: int, ctx: KeyedProcessFunction.OnTimerContext) -> Iterator:
        kind, direction = ctx.get_current_key().split("/")
        t = (timestamp + 1) // 60_000
        state = self.state.value() or KeyState()
        issued = fire(state, kind, direction, t, self.profiles, self.registry)
        self.state.update(state)
        if issued.next_minute is not None:
            ctx.timer_service().register_event_time_timer(issued.next_minute * 60_000 - 1)
        for values in issued.forecasts:
            yield message_row(ClearanceForecast, values)
        for values in issued.alerts:
            yield ALERTS_TAG, message_row(Alert, values)
