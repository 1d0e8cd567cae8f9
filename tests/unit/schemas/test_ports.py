"""The port registry: the shipped file is valid and consistent, lookups, opening hours."""

from __future__ import annotations

import copy
import csv
import tomllib
from collections import defaultdict
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schemas.events import CHANNELS_BY_KIND, Direction, InspectionMode, Kind
from schemas.ports import (
    DEFAULT_PORTS_PATH,
    HK_CONTROL_POINTS,
    PortMode,
    PortRegistryError,
    build_registry,
    load_ports,
)

SZ = ZoneInfo("Asia/Shanghai")
HK_CSV = Path("/work/shared/data/hk-immd-daily-passenger-traffic-2021-01-01_2025-06-30.csv")
CODES = {
    "LUOHU",
    "HUANGGANG",
    "FUTIAN",
    "SHENZHEN_BAY",
    "LIANTANG",
    "WENJINDU",
    "SHATOUJIAO",
    "SHEKOU",
    "AIRPORT",
    "YANTIAN",
}
# Shenzhen counterparts of the Hong Kong control points (shared/data/README.md).
COUNTERPARTS = {
    "Lo Wu": "LUOHU",
    "Lok Ma Chau Spur Line": "FUTIAN",
    "Lok Ma Chau": "HUANGGANG",
    "Heung Yuen Wai": "LIANTANG",
    "Shenzhen Bay": "SHENZHEN_BAY",
    "Man Kam To": "WENJINDU",
    "Sha Tau Kok": "SHATOUJIAO",
}
T, D, K = Kind.TRAVELLER, Kind.DRIVER, Kind.TRUCK


def local(hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 5, 1, hour, minute, tzinfo=SZ)


def raw_file() -> dict[str, Any]:
    return tomllib.loads(DEFAULT_PORTS_PATH.read_text(encoding="utf-8"))


def test_registry_has_the_ten_ports() -> None:
    ports = load_ports()
    assert set(ports.codes) == CODES
    assert len(ports) == len(CODES)
    assert [p.code for p in ports] == list(ports.codes)
    assert "FUTIAN" in ports


def test_default_registry_is_cached_and_a_path_loads_afresh() -> None:
    assert load_ports() is load_ports()
    again = load_ports(DEFAULT_PORTS_PATH)
    assert again is not load_ports()
    assert again.codes == load_ports().codes


@pytest.mark.parametrize(
    ("code", "mode", "kinds"),
    [
        ("LUOHU", PortMode.LAND, {T}),
        ("FUTIAN", PortMode.LAND, {T}),
        ("HUANGGANG", PortMode.LAND, {T, D, K}),
        ("SHENZHEN_BAY", PortMode.LAND, {T, D, K}),
        ("LIANTANG", PortMode.LAND, {T, D, K}),
        ("WENJINDU", PortMode.LAND, {T, D, K}),
        ("SHATOUJIAO", PortMode.LAND, {T, D, K}),
        ("SHEKOU", PortMode.SEA, {T}),
        ("AIRPORT", PortMode.AIR, {T}),
        ("YANTIAN", PortMode.SEA, {K}),
    ],
)
def test_port_mode_and_kinds(code: str, mode: PortMode, kinds: set[Kind]) -> None:
    port = load_ports().get(code)
    assert port.mode is mode
    assert port.kinds == kinds


def test_only_shenzhen_bay_is_co_located() -> None:
    modes = {p.code: p.inspection_mode for p in load_ports()}
    assert modes.pop("SHENZHEN_BAY") is InspectionMode.CO_LOCATION
    assert set(modes.values()) == {InspectionMode.TWO_SITE}


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_port_has_figures_for_exactly_the_kinds_it_clears(code: str) -> None:
    port = load_ports().get(code)
    for figures in (port.opening_hours, port.lanes, port.clearance_threshold_s, port.daily_volume):
        assert set(figures) == port.kinds
    for kind in port.kinds:
        assert set(port.lanes[kind]) == set(Direction)
        assert set(port.daily_volume[kind]) == set(Direction)
        for channels in port.lanes[kind].values():
            assert channels and set(channels) <= CHANNELS_BY_KIND[kind]
            assert all(n > 0 for n in channels.values())
    assert port.sources
    assert port.name_en and port.name_zh


def test_clearance_thresholds_default_by_kind() -> None:
    for port in load_ports():
        assert port.clearance_threshold_s == {kind: {T: 1800, D: 2700, K: 3600}[kind] for kind in port.kinds}


def test_a_port_may_override_a_threshold() -> None:
    data = raw_file()
    data["ports"]["FUTIAN"]["clearance_threshold_s"] = {"traveller": 1200}
    ports = build_registry(data)
    assert ports.get("FUTIAN").clearance_threshold_s == {T: 1200}
    assert ports.get("LUOHU").clearance_threshold_s == {T: 1800}


def test_estimates_are_marked() -> None:
    ports = load_ports()
    assert "lanes" not in ports.get("FUTIAN").estimates
    for code in ("SHEKOU", "AIRPORT", "YANTIAN"):
        assert {"lanes", "daily_volume"} <= set(ports.get(code).estimates)
    for code in ("HUANGGANG", "SHENZHEN_BAY", "LIANTANG", "WENJINDU", "SHATOUJIAO"):
        estimates = set(ports.get(code).estimates)
        assert {"daily_volume.driver", "daily_volume.truck", "opening_hours.driver"} <= estimates


@pytest.mark.parametrize(("hk_name", "code"), sorted(COUNTERPARTS.items()))
def test_for_hk_control_point(hk_name: str, code: str) -> None:
    port = load_ports().for_hk_control_point(hk_name)
    assert port is not None and port.code == code
    assert port.hk_control_point == hk_name


@pytest.mark.parametrize("name", ["Airport", "Express Rail Link West Kowloon", "lo wu", ""])
def test_for_hk_control_point_without_counterpart(name: str) -> None:
    assert load_ports().for_hk_control_point(name) is None


def test_ports_without_hk_counterpart() -> None:
    ports = load_ports()
    assert {p.code for p in ports if p.hk_control_point is None} == {"SHEKOU", "AIRPORT", "YANTIAN"}
    assert set(COUNTERPARTS) == HK_CONTROL_POINTS


@pytest.mark.skipif(not HK_CSV.exists(), reason=f"shared data not present: {HK_CSV}")
def test_traveller_volumes_are_the_hk_2024_daily_averages() -> None:
    totals: dict[tuple[str, Direction], int] = defaultdict(int)
    days: dict[tuple[str, Direction], set[str]] = defaultdict(set)
    with HK_CSV.open(encoding="utf-8-sig", newline="") as file:
        for row in csv.DictReader(file):
            if not row["Date"].endswith("-2024") or row["Control Point"] not in COUNTERPARTS:
                continue
            arrival = row["Arrival / Departure"] == "Arrival"
            direction = Direction.EXIT if arrival else Direction.ENTRY  # HK arrival = SZ exit
            key = (COUNTERPARTS[row["Control Point"]], direction)
            totals[key] += int(row["Total"])
            days[key].add(row["Date"])
    ports = load_ports()
    for (code, direction), total in totals.items():
        assert len(days[code, direction]) == 366
        assert ports.get(code).daily_volume[T][direction] == round(total / 366)


def test_driver_and_truck_volumes_split_the_yearly_totals() -> None:
    land = [p for p in load_ports() if p.mode is PortMode.LAND]
    drivers = sum(sum(p.daily_volume[D].values()) for p in land if D in p.kinds)
    trucks = sum(sum(p.daily_volume[K].values()) for p in land if K in p.kinds)
    assert drivers == pytest.approx(5_453_000 / 365, rel=0.001)
    assert trucks == pytest.approx(5_449_700 / 365, rel=0.001)


@pytest.mark.parametrize(
    ("at", "open_"),
    [
        (local(6, 29), False),
        (local(6, 30), True),
        (local(12), True),
        (local(22, 29), True),
        (local(22, 30), False),
        (local(0), False),
        (datetime(2024, 4, 30, 22, 29, tzinfo=UTC), False),  # 06:29 in Shenzhen
        (datetime(2024, 4, 30, 22, 30, tzinfo=UTC), True),  # 06:30 in Shenzhen
        (datetime(2024, 5, 1, 14, 30, tzinfo=UTC), False),  # 22:30 in Shenzhen
    ],
)
def test_futian_opening_hours_boundaries(at: datetime, open_: bool) -> None:
    assert load_ports().is_open("FUTIAN", Kind.TRAVELLER, at) is open_


@pytest.mark.parametrize(
    ("hour", "minute", "open_"),
    [(6, 29, False), (6, 30, True), (23, 59, True), (0, 0, False), (3, 0, False)],
)
def test_a_close_of_24_00_is_midnight(hour: int, minute: int, open_: bool) -> None:
    assert load_ports().get("LUOHU").opening_hours[T] == (time(6, 30), time(0, 0))
    assert load_ports().is_open("LUOHU", "traveller", local(hour, minute)) is open_


def test_round_the_clock_and_per_kind_hours() -> None:
    ports = load_ports()
    for kind in (T, D, K):
        assert ports.is_open("HUANGGANG", kind, local(3))
    assert ports.is_open("SHENZHEN_BAY", K, local(3))
    assert not ports.is_open("SHENZHEN_BAY", T, local(3))
    assert not ports.is_open("LIANTANG", K, local(22))
    assert ports.is_open("LIANTANG", K, local(21, 59))


def test_is_open_is_false_for_a_kind_the_port_does_not_clear() -> None:
    assert not load_ports().is_open("LUOHU", Kind.TRUCK, local(12))
    assert not load_ports().is_open("YANTIAN", Kind.TRAVELLER, local(12))


def test_is_open_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        load_ports().is_open("FUTIAN", Kind.TRAVELLER, datetime(2024, 5, 1, 12))


def test_get_unknown_code_names_it() -> None:
    with pytest.raises(KeyError, match="unknown port code 'LOWU'; known: LUOHU, "):
        load_ports().get("LOWU")
    with pytest.raises(KeyError, match="unknown port code"):
        load_ports().is_open("LOWU", Kind.TRAVELLER, local(12))


def _set(path: str, value: Any) -> Any:
    """A change to the parsed file: set the value at a dotted path (None deletes it)."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        for key in parents:
            data = data[key]
        if value is None:
            del data[last]
        else:
            data[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            _set("ports.LUOHU.lanes.truck", {"exit": {"freight-lane": 1}}),
            "port LUOHU: lanes: has truck, which the port does not clear",
        ),
        (
            _set("ports.HUANGGANG.daily_volume.driver", None),
            "port HUANGGANG: daily_volume: lacks driver, which the port clears",
        ),
        (
            _set("ports.LUOHU.lanes.traveller.exit", None),
            "port LUOHU: lanes.traveller: no figure for exit",
        ),
        (
            _set("ports.LUOHU.lanes.traveller.exit", {}),
            "port LUOHU: lanes.traveller.exit: no lanes",
        ),
        (
            _set("ports.LUOHU.lanes.traveller.exit.freight-lane", 2),
            "port LUOHU: lanes.traveller.exit: freight-lane cannot clear traveller crossings",
        ),
        (
            _set("ports.LUOHU.lanes.traveller.exit.e-channel", 0),
            "port LUOHU, field lanes.traveller.exit.e-channel: Input should be greater than 0",
        ),
        (
            _set("ports.LUOHU.opening_hours.traveller", ["25:00", "22:00"]),
            "port LUOHU, field opening_hours.traveller: '25:00' is not a time of day",
        ),
        (
            _set("ports.LUOHU.opening_hours.traveller", ["6:30", "22:00"]),
            "port LUOHU, field opening_hours.traveller: '6:30' is not a time 'HH:MM'",
        ),
        (
            _set("ports.LUOHU.opening_hours.traveller", ["22:00", "06:00"]),
            "field opening_hours.traveller: closes at 06:00, not after it opens at 22:00",
        ),
        (
            _set("ports.LUOHU.opening_hours.traveller", ["00:00", "24:00"]),
            "port LUOHU, field opening_hours.traveller: 00:00-24:00 is round the clock",
        ),
        (
            _set("ports.LUOHU.kinds", ["traveller", "bus"]),
            "port LUOHU, field kinds.1: Input should be 'traveller', 'driver' or 'truck'",
        ),
        (_set("ports.LUOHU.mode", "rail"), "port LUOHU, field mode: Input should be"),
        (_set("ports.LUOHU.name_zh", None), "port LUOHU, field name_zh: Field required"),
        (_set("ports.LUOHU.sources", []), "port LUOHU, field sources: "),
        (_set("ports.LUOHU.lane_count", 3), "port LUOHU, field lane_count: Extra inputs"),
        (
            _set("ports.LUOHU.daily_volume.traveller.exit", -1),
            "port LUOHU, field daily_volume.traveller.exit: Input should be greater than or equal",
        ),
        (
            _set("ports.LUOHU.clearance_threshold_s", {"truck": 600}),
            "port LUOHU: clearance_threshold_s: has truck, which the port does not clear",
        ),
        (
            _set("ports.LUOHU.hk_control_point", "Lowu"),
            "port LUOHU: hk_control_point: 'Lowu' is not one of",
        ),
        (
            _set("ports.SHEKOU.hk_control_point", "Sha Tau Kok"),
            "port SHEKOU: hk_control_point: only a land port",
        ),
        (
            _set("ports.FUTIAN.hk_control_point", "Lo Wu"),
            "hk_control_point: 'Lo Wu' is given to both LUOHU and FUTIAN",
        ),
        (
            _set("ports.LUOHU.estimates", ["lane_counts"]),
            "port LUOHU: estimates: 'lane_counts' does not name a field of the port",
        ),
        (
            _set("ports.LUOHU.estimates", ["daily_volume.truck"]),
            "port LUOHU: estimates: 'daily_volume.truck' names a kind the port does not clear",
        ),
        (_set("ports.LUOHU.code", "LOWU"), "ports.LUOHU: code 'LOWU' differs from the table name"),
        (
            _set("defaults.clearance_threshold_s.truck", None),
            "defaults: clearance_threshold_s: lacks truck",
        ),
    ],
)
def test_invalid_registry_names_the_port_and_field(change: Any, message: str) -> None:
    data = copy.deepcopy(raw_file())
    change(data)
    with pytest.raises(PortRegistryError) as info:
        build_registry(data, origin="ports.toml")
    assert str(info.value).startswith("ports.toml: invalid port registry")
    assert message in str(info.value)


def test_unreadable_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PortRegistryError, match="No such file"):
        load_ports(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[ports.LUOHU\n", encoding="utf-8")
    with pytest.raises(PortRegistryError, match="broken.toml"):
        load_ports(broken)


def test_a_file_is_loaded_from_a_path(tmp_path: Path) -> None:
    data = DEFAULT_PORTS_PATH.read_text(encoding="utf-8")
    copy_path = tmp_path / "ports.toml"
    copy_path.write_text(data.replace("exit = 86708", "exit = 1"), encoding="utf-8")
    assert load_ports(str(copy_path)).get("LUOHU").daily_volume[T][Direction.EXIT] == 1
