"""JSON Schemas of the crossing events, generated from the pydantic models.

The files in `schemas/json/` are committed for consumers that do not run Python; a test fails
when they drift from the models. Regenerate them with `python -m schemas.jsonschema`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from schemas.events import CROSSING_ADAPTER, DriverCrossing, TravellerCrossing, TruckCrossing

JSON_DIR = Path(__file__).with_name("json")
SUFFIX = ".schema.json"
_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def build_json_schemas() -> dict[str, dict[str, Any]]:
    """Schemas by name: one per event model, and `crossing` for any of them (by `kind`)."""
    schemas = {
        "traveller-crossing": TravellerCrossing.model_json_schema(),
        "driver-crossing": DriverCrossing.model_json_schema(),
        "truck-crossing": TruckCrossing.model_json_schema(),
        "crossing": {
            "title": "Crossing",
            "description": "Any crossing event; `kind` selects the model.",
            **CROSSING_ADAPTER.json_schema(),
        },
    }
    return {name: {"$schema": _DIALECT, **schema} for name, schema in schemas.items()}


def render(schema: dict[str, Any]) -> str:
    """The committed text of a schema: sorted keys, indent 2, a trailing newline."""
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_json_schemas(directory: Path | str = JSON_DIR) -> list[Path]:
    """Write `<name>.schema.json` files and delete stale ones; returns the files written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in build_json_schemas().items():
        path = directory / f"{name}{SUFFIX}"
        path.write_text(render(schema), encoding="utf-8")
        written.append(path)
    for stale in set(directory.glob(f"*{SUFFIX}")) - set(written):
        stale.unlink()
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", type=Path, default=JSON_DIR)
    for path in write_json_schemas(parser.parse_args(argv).directory):
        print(path)


if __name__ == "__main__":
    main()
