"""Scenarios for the traffic simulator: lane closures, surges and port closures.

A scenario describes a day: each effect holds from `start` to `end`, local times
(Asia/Shanghai) of day, on every simulated day. An `end` of "24:00" is the end of the day.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from schemas.events import ChannelType, Direction, Kind

MIDNIGHT = time(0, 0)


def _end_of_day(value: Any) -> Any:
    return MIDNIGHT if value == "24:00" else value


class _Effect(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    port: str = Field(description="a port code of schemas/ports.toml")
    start: time = Field(description="local time of day the effect begins")
    end: Annotated[time, BeforeValidator(_end_of_day)] = Field(
        description="local time of day the effect ends; 24:00 (or 00:00) = end of the day"
    )

    @model_validator(mode="after")
    def _ordered(self) -> _Effect:
        if self.end != MIDNIGHT and self.end <= self.start:
            raise ValueError(f"end ({self.end:%H:%M}) must be after start ({self.start:%H:%M})")
        return self

    @property
    def seconds_of_day(self) -> tuple[int, int]:
        """(start, end) in seconds after local midnight; end 86400 for 24:00."""
        start = self.start.hour * 3600 + self.start.minute * 60 + self.start.second
        end = self.end.hour * 3600 + self.end.minute * 60 + self.end.second
        return start, end if self.end != MIDNIGHT else 86_400

    def _window(self) -> str:
        return f"{self.start:%H:%M}-{'24:00' if self.end == MIDNIGHT else f'{self.end:%H:%M}'}"


class LaneClosure(_Effect):
    """The last `lanes_closed` lanes of one channel type start no new service.

    At least one lane stays open: close a whole port with `PortClosure`.
    """

    type: Literal["lane-closure"] = "lane-closure"
    kind: Kind
    direction: Direction
    channel_type: ChannelType
    lanes_closed: int = Field(ge=1)

    def label(self) -> str:
        return (
            f"lane-closure {self.port} {self.kind} {self.direction} {self.channel_type} "
            f"-{self.lanes_closed} {self._window()}"
        )


class Surge(_Effect):
    """Arrivals of one kind and direction at a port multiplied by `factor`."""

    type: Literal["surge"] = "surge"
    kind: Kind
    direction: Direction
    factor: float = Field(gt=0, allow_inf_nan=False)

    def label(self) -> str:
        return f"surge {self.port} {self.kind} {self.direction} x{self.factor:g} {self._window()}"


class PortClosure(_Effect):
    """No arrivals at the port; those already queued are still served."""

    type: Literal["port-closure"] = "port-closure"

    def label(self) -> str:
        return f"port-closure {self.port} {self._window()}"


Effect = Annotated[LaneClosure | Surge | PortClosure, Field(discriminator="type")]


class Scenario(BaseModel):
    """A named set of effects applied to each simulated day."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    effects: tuple[Effect, ...] = ()


# Strong enough that the p90 clearance of Shenzhen Bay exits passes the 30 min traveller
# threshold from about 09:50 to 11:10 at scale 1, then recovers.
_MORNING_SURGE = Surge(
    port="SHENZHEN_BAY",
    kind=Kind.TRAVELLER,
    direction=Direction.EXIT,
    factor=3.5,
    start=time(8),
    end=time(10),
)

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(name="normal", description="a typical day, no effects"),
        Scenario(
            name="surge",
            description="travellers leaving through Shenzhen Bay x3.5 08:00-10:00",
            effects=(_MORNING_SURGE,),
        ),
        Scenario(
            name="demo-day",
            description=(
                "the Shenzhen Bay morning surge, and an outage leaving 2 of the 20 "
                "Huanggang freight lanes towards Hong Kong working 13:00-17:00"
            ),
            effects=(
                _MORNING_SURGE,
                LaneClosure(
                    port="HUANGGANG",
                    kind=Kind.TRUCK,
                    direction=Direction.EXIT,
                    channel_type=ChannelType.FREIGHT_LANE,
                    lanes_closed=18,
                    start=time(13),
                    end=time(17),
                ),
            ),
        ),
        Scenario(
            name="port-closed",
            description="Luohu closed 10:00-14:00; some of its travellers go to Futian (x1.3)",
            effects=(
                PortClosure(port="LUOHU", start=time(10), end=time(14)),
                *(
                    Surge(
                        port="FUTIAN",
                        kind=Kind.TRAVELLER,
                        direction=direction,
                        factor=1.3,
                        start=time(10),
                        end=time(14),
                    )
                    for direction in Direction
                ),
            ),
        ),
    )
}


def scenario_by_name(name: str) -> Scenario:
    """The named scenario; ValueError listing the known names otherwise."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known scenarios: {', '.join(SCENARIOS)}") from None
