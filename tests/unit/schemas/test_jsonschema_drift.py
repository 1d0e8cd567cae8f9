"""The committed JSON Schemas match the models, and the events validate against them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from schemas.events import SCHEMA_VERSION, Kind, parse_crossing
from schemas.jsonschema import (
    JSON_DIR,
    SUFFIX,
    build_json_schemas,
    main,
    render,
    write_json_schemas,
)

NAMES = {"traveller-crossing", "driver-crossing", "truck-crossing", "crossing"}
EXAMPLE = {
    "event_id": "0b6c1b7e-2f4b-4e36-8f0a-5a8d7c2e9b14",
    "schema_version": SCHEMA_VERSION,
    "kind": "truck",
    "port_code": "LIANTANG",
    "direction": "entry",
    "lane_id": "LT-ENTRY-F04",
    "channel_type": "freight-lane",
    "queued_at": "2024-05-01T01:00:00Z",
    "inspection_started_at": "2024-05-01T01:20:00Z",
    "released_at": "2024-05-01T01:31:00Z",
    "inspection_mode": "two-site",
    "subject_ref": "00112233445566778899aabbccddeeff",
    "plate_ref": "ffeeddccbbaa99887766554433221100",
    "cargo_type": "general",
    "declared_weight_kg": 12000,
    "customs_decision": "released",
}


def test_committed_schemas_match_the_models() -> None:
    committed = {p.name: p.read_text(encoding="utf-8") for p in JSON_DIR.glob(f"*{SUFFIX}")}
    generated = {f"{name}{SUFFIX}": render(s) for name, s in build_json_schemas().items()}
    assert set(committed) == set(generated), "run: python -m schemas.jsonschema"
    for name, text in generated.items():
        assert committed[name] == text, f"{name} drifted; run: python -m schemas.jsonschema"


def test_output_is_deterministic(tmp_path: Path) -> None:
    first = write_json_schemas(tmp_path / "a")
    second = write_json_schemas(tmp_path / "b")
    assert {p.name for p in first} == {f"{name}{SUFFIX}" for name in NAMES}
    for a, b in zip(first, second, strict=True):
        text = a.read_text(encoding="utf-8")
        assert text == b.read_text(encoding="utf-8")
        assert text.endswith("}\n")
        assert json.loads(text)["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_writing_removes_stale_schemas(tmp_path: Path) -> None:
    stale = tmp_path / f"bus-crossing{SUFFIX}"
    stale.write_text("{}\n", encoding="utf-8")
    other = tmp_path / "notes.txt"
    other.write_text("kept\n", encoding="utf-8")
    write_json_schemas(tmp_path)
    assert not stale.exists()
    assert other.exists()


def test_module_entry_point_writes_to_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main([str(tmp_path)])
    assert {p.name for p in tmp_path.iterdir()} == {f"{name}{SUFFIX}" for name in NAMES}
    assert len(capsys.readouterr().out.splitlines()) == len(NAMES)


def test_schemas_state_the_wire_contract() -> None:
    schemas = build_json_schemas()
    truck = schemas["truck-crossing"]
    assert truck["additionalProperties"] is False
    assert "kind" in truck["required"] and "schema_version" in truck["required"]
    assert truck["properties"]["kind"] == {"const": "truck", "title": "Kind", "type": "string"}
    assert truck["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert truck["properties"]["plate_ref"]["pattern"] == "^[0-9a-f]{32}$"
    assert schemas["crossing"]["discriminator"]["propertyName"] == "kind"
    assert set(schemas["crossing"]["discriminator"]["mapping"]) == {k.value for k in Kind}


def test_events_validate_against_the_committed_schemas() -> None:
    wire = json.loads(parse_crossing(EXAMPLE).to_json())
    for name in ("crossing", "truck-crossing"):
        schema = json.loads((JSON_DIR / f"{name}{SUFFIX}").read_text(encoding="utf-8"))
        jsonschema.Draft202012Validator(schema).validate(wire)
        bad = {**wire, "plate_ref": "ZA1234"}
        assert not jsonschema.Draft202012Validator(schema).is_valid(bad)
