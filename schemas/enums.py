"""Enumerations of the crossing events; their values are the strings on the wire.

They live apart from `schemas.events` so that `schemas.ports` can use them while the events
validate against the port registry. Import them from `schemas.events`.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What crosses: a person on foot, a driver at a vehicle lane, or a goods vehicle at customs."""

    TRAVELLER = "traveller"
    DRIVER = "driver"
    TRUCK = "truck"


class Direction(StrEnum):
    """Seen from Shenzhen: exit = leaving the mainland (towards Hong Kong)."""

    ENTRY = "entry"
    EXIT = "exit"


class ChannelType(StrEnum):
    E_CHANNEL = "e-channel"
    MANUAL_COUNTER = "manual-counter"
    VEHICLE_LANE = "vehicle-lane"
    FREIGHT_LANE = "freight-lane"


class InspectionMode(StrEnum):
    """How the two sides inspect.

    - two-site (两地两检): each side inspects in its own port, on its own side of the boundary.
    - co-location (一地两检): both sides inspect in one building on one side (Shenzhen Bay).
    - joint-one-release (合作查验、一次放行): the two sides inspect together and release once
      (Hengqin-Macao model); no port in the Shenzhen registry uses it today.
    """

    TWO_SITE = "two-site"
    CO_LOCATION = "co-location"
    JOINT_ONE_RELEASE = "joint-one-release"


class TravellerCategory(StrEnum):
    HK_MACAO_RESIDENT = "hk-macao-resident"
    MAINLAND_RESIDENT = "mainland-resident"
    FOREIGN = "foreign"


class DocumentType(StrEnum):
    HOME_RETURN_PERMIT = "home-return-permit"
    EXIT_ENTRY_PERMIT = "exit-entry-permit"
    PASSPORT = "passport"
    OTHER = "other"


class HealthCheck(StrEnum):
    PASSED = "passed"
    REFERRED = "referred"


class CargoType(StrEnum):
    GENERAL = "general"
    COLD_CHAIN = "cold-chain"
    DANGEROUS_GOODS = "dangerous-goods"
    PARCELS = "parcels"
    EMPTY = "empty"


class CustomsDecision(StrEnum):
    RELEASED = "released"
    INSPECTED_RELEASED = "inspected-released"
    HELD = "held"


# The channel types through which each kind clears.
CHANNELS_BY_KIND: dict[Kind, frozenset[ChannelType]] = {
    Kind.TRAVELLER: frozenset({ChannelType.E_CHANNEL, ChannelType.MANUAL_COUNTER}),
    Kind.DRIVER: frozenset({ChannelType.VEHICLE_LANE}),
    Kind.TRUCK: frozenset({ChannelType.FREIGHT_LANE}),
}
