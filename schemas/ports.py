"""The registry of Shenzhen's ports of entry, loaded from `schemas/ports.toml`.

A port says which kinds of crossing it clears, when, through how many lanes, and how many
crossings a typical day brings (the simulator's default volumes). The file is validated on
load; an error names the port and the field. Figures that are estimates are listed in each
port's `estimates`, the others are backed by its `sources`.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from datetime import datetime, time
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    model_validator,
)

from schemas.enums import CHANNELS_BY_KIND, ChannelType, Direction, InspectionMode, Kind

DEFAULT_PORTS_PATH = Path(__file__).with_name("ports.toml")
SHENZHEN_TZ = ZoneInfo("Asia/Shanghai")
MIDNIGHT = time(0, 0)
# a clearance window of fewer crossings counts as below every threshold, in the job's alerts and
# in Grafana's backup rule: one slow truck in five minutes is not a spike
MIN_WINDOW_CROSSINGS = 5

# Hong Kong control points with a Shenzhen land counterpart, spelled as in the Immigration
# Department's daily passenger traffic statistics.
HK_CONTROL_POINTS = frozenset(
    {
        "Lo Wu",
        "Lok Ma Chau Spur Line",
        "Lok Ma Chau",
        "Heung Yuen Wai",
        "Shenzhen Bay",
        "Man Kam To",
        "Sha Tau Kok",
    }
)

_HHMM = re.compile(r"(\d{2}):(\d{2})")


class PortMode(StrEnum):
    LAND = "land"
    SEA = "sea"
    AIR = "air"


class PortRegistryError(ValueError):
    """The port registry file is unreadable or invalid."""


def _parse_hours(value: Any) -> Any:
    """'24h' -> None; ["HH:MM", "HH:MM"] -> (time, time), a close of "24:00" -> 00:00."""
    if value == "24h":
        return None
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return tuple(_parse_hhmm(v) for v in value)
    return value


def _parse_hhmm(value: str) -> time:
    match = _HHMM.fullmatch(value)
    if match is None:
        raise ValueError(f"{value!r} is not a time 'HH:MM'")
    hour, minute = int(match[1]), int(match[2])
    if (hour, minute) == (24, 0):
        return MIDNIGHT
    if hour > 23 or minute > 59:
        raise ValueError(f"{value!r} is not a time of day")
    return time(hour, minute)


def _check_hours(value: tuple[time, time] | None) -> tuple[time, time] | None:
    if value is None:
        return None
    opens, closes = value
    if opens == MIDNIGHT and closes == MIDNIGHT:
        raise ValueError("00:00-24:00 is round the clock: write '24h'")
    if closes != MIDNIGHT and closes <= opens:
        raise ValueError(f"closes at {closes:%H:%M}, not after it opens at {opens:%H:%M}")
    return value


OpeningHours = Annotated[tuple[time, time] | None, BeforeValidator(_parse_hours), AfterValidator(_check_hours)]
"""None = round the clock; else (opens, closes) in local time, a close of 00:00 meaning 24:00."""


class Port(BaseModel):
    """One port of entry and what it clears."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(pattern=r"^[A-Z][A-Z_]*$")
    name_en: str = Field(min_length=1)
    name_zh: str = Field(min_length=1)
    mode: PortMode
    kinds: frozenset[Kind] = Field(min_length=1)
    opening_hours: dict[Kind, OpeningHours]
    lanes: dict[Kind, dict[Direction, dict[ChannelType, PositiveInt]]]
    inspection_mode: InspectionMode
    clearance_threshold_s: dict[Kind, PositiveInt]
    hk_control_point: str | None = None
    daily_volume: dict[Kind, dict[Direction, NonNegativeInt]]
    sources: tuple[str, ...] = Field(min_length=1)
    estimates: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _figures_per_kind(self) -> Port:
        """Hours, lanes, thresholds and volumes for exactly the kinds cleared, both directions."""
        for name in ("opening_hours", "lanes", "clearance_threshold_s", "daily_volume"):
            _require_kinds(name, getattr(self, name).keys(), self.kinds)
        for name in ("lanes", "daily_volume"):
            for kind, by_direction in getattr(self, name).items():
                missing = set(Direction) - by_direction.keys()
                if missing:
                    raise ValueError(f"{name}.{kind}: no figure for {', '.join(sorted(missing))}")
        for kind, by_direction in self.lanes.items():
            allowed = CHANNELS_BY_KIND[kind]
            for direction, channels in by_direction.items():
                if not channels:
                    raise ValueError(f"lanes.{kind}.{direction}: no lanes")
                wrong = channels.keys() - allowed
                if wrong:
                    raise ValueError(
                        f"lanes.{kind}.{direction}: {', '.join(sorted(wrong))} cannot clear "
                        f"{kind} crossings (allowed: {', '.join(sorted(allowed))})"
                    )
        return self

    @model_validator(mode="after")
    def _hk_counterpart(self) -> Port:
        if self.hk_control_point is None:
            return self
        if self.hk_control_point not in HK_CONTROL_POINTS:
            raise ValueError(
                f"hk_control_point: {self.hk_control_point!r} is not one of {', '.join(sorted(HK_CONTROL_POINTS))}"
            )
        if self.mode is not PortMode.LAND:
            raise ValueError("hk_control_point: only a land port has a Hong Kong counterpart")
        return self

    @model_validator(mode="after")
    def _estimates_name_figures(self) -> Port:
        """Each estimate is a path to a figure: 'lanes', 'daily_volume.driver', ..."""
        for entry in self.estimates:
            field, _, rest = entry.partition(".")
            if field not in Port.model_fields or field in ("code", "sources", "estimates"):
                raise ValueError(f"estimates: {entry!r} does not name a field of the port")
            kind = rest.partition(".")[0]
            if kind and kind not in self.kinds:
                raise ValueError(f"estimates: {entry!r} names a kind the port does not clear")
        return self

    def is_open(self, kind: Kind | str, at: datetime) -> bool:
        """Whether the port clears `kind` at the instant `at` (timezone-aware)."""
        if at.utcoffset() is None:
            raise ValueError("at: naive datetime; give a timezone")
        kind = Kind(kind)
        if kind not in self.kinds:
            return False
        hours = self.opening_hours[kind]
        if hours is None:
            return True
        opens, closes = hours
        local = at.astimezone(SHENZHEN_TZ).time()
        return opens <= local and (closes == MIDNIGHT or local < closes)


def _require_kinds(name: str, keys: Any, kinds: frozenset[Kind]) -> None:
    missing, extra = kinds - set(keys), set(keys) - kinds
    if missing:
        raise ValueError(f"{name}: lacks {', '.join(sorted(missing))}, which the port clears")
    if extra:
        raise ValueError(f"{name}: has {', '.join(sorted(extra))}, which the port does not clear")


class _Defaults(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    clearance_threshold_s: dict[Kind, PositiveInt]

    @model_validator(mode="after")
    def _every_kind(self) -> _Defaults:
        missing = set(Kind) - self.clearance_threshold_s.keys()
        if missing:
            raise ValueError(f"clearance_threshold_s: lacks {', '.join(sorted(missing))}")
        return self


class _PortsFile(BaseModel):
    """The TOML file: `[defaults]` and one `[ports.<CODE>]` table per port."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    defaults: _Defaults
    ports: dict[str, Port] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _fill_in(cls, data: Any) -> Any:
        """Give every port its code (the table key) and the default thresholds it does not set."""
        if not isinstance(data, dict) or not isinstance(data.get("ports"), dict):
            return data
        thresholds = data.get("defaults", {}).get("clearance_threshold_s", {})
        ports = {}
        for code, table in data["ports"].items():
            if isinstance(table, dict):
                kinds = table.get("kinds", [])
                default = {k: v for k, v in thresholds.items() if k in kinds}
                table = {
                    "code": code,
                    **table,
                    "clearance_threshold_s": default | table.get("clearance_threshold_s", {}),
                }
            ports[code] = table
        return {**data, "ports": ports}

    @model_validator(mode="after")
    def _unique(self) -> _PortsFile:
        for key, port in self.ports.items():
            if port.code != key:
                raise ValueError(f"ports.{key}: code {port.code!r} differs from the table name")
        seen: dict[str, str] = {}
        for port in self.ports.values():
            name = port.hk_control_point
            if name is not None and seen.setdefault(name, port.code) != port.code:
                raise ValueError(f"hk_control_point: {name!r} is given to both {seen[name]} and {port.code}")
        return self


class PortRegistry:
    """The ports, in file order, by code."""

    def __init__(self, ports: dict[str, Port]) -> None:
        self._ports = dict(ports)
        self._by_hk = {p.hk_control_point: p for p in ports.values() if p.hk_control_point}

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self._ports)

    def __iter__(self) -> Iterator[Port]:
        return iter(self._ports.values())

    def __len__(self) -> int:
        return len(self._ports)

    def __contains__(self, code: object) -> bool:
        return code in self._ports

    def get(self, code: str) -> Port:
        """The port with this code; KeyError naming the known codes if there is none."""
        try:
            return self._ports[code]
        except KeyError:
            raise KeyError(f"unknown port code {code!r}; known: {', '.join(self._ports)}") from None

    def for_hk_control_point(self, name: str) -> Port | None:
        """The Shenzhen counterpart of a Hong Kong control point (exact IMMD name), if any."""
        return self._by_hk.get(name)

    def is_open(self, code: str, kind: Kind | str, at: datetime) -> bool:
        """Whether port `code` clears `kind` at `at`; False for a kind it never clears."""
        return self.get(code).is_open(kind, at)


def load_ports(path: Path | str | None = None) -> PortRegistry:
    """Load and validate a registry file; the default file is read once and cached."""
    if path is None:
        return _default_registry()
    return _load(Path(path))


@cache
def _default_registry() -> PortRegistry:
    return _load(DEFAULT_PORTS_PATH)


def _load(path: Path) -> PortRegistry:
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PortRegistryError(f"{path}: {exc}") from exc
    return build_registry(data, origin=str(path))


def build_registry(data: dict[str, Any], origin: str = "<data>") -> PortRegistry:
    """Validate the parsed contents of a registry file; errors name the port and the field."""
    try:
        return PortRegistry(_PortsFile.model_validate(data).ports)
    except ValidationError as exc:
        raise PortRegistryError(
            "\n".join([f"{origin}: invalid port registry"] + [_describe(e) for e in exc.errors()])
        ) from exc


def _describe(error: Any) -> str:
    """One pydantic error as 'port CODE, field a.b: why'."""
    loc = [str(part) for part in error["loc"]]
    msg = error["msg"].removeprefix("Value error, ")
    if len(loc) >= 2 and loc[0] == "ports":
        if len(loc) == 2:  # a check across fields: the message names them
            return f"  port {loc[1]}: {msg}"
        return f"  port {loc[1]}, field {'.'.join(loc[2:])}: {msg}"
    return f"  {'.'.join(loc) or '(file)'}: {msg}"
