"""The dashboards by name, their JSON, and `crossings grafana build` writing it."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.dashboards import analysts, freight, ops_centre, port_detail
from grafana.panels import build_dashboard

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"

DASHBOARDS: dict[str, ModuleType] = {
    "ops_centre": ops_centre,
    "port_detail": port_detail,
    "freight": freight,
    "analysts": analysts,
}


def build(name: str) -> Dashboard:
    return build_dashboard(DASHBOARDS[name])


def render(name: str) -> str:
    """The dashboard's JSON text, keys sorted, as committed under grafana/dashboards/."""
    return json.dumps(build(name), cls=JSONEncoder, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def json_path(name: str, folder: Path = DASHBOARDS_DIR) -> Path:
    return folder / f"{name}.json"


def write_all(folder: Path = DASHBOARDS_DIR) -> list[Path]:
    """Writes every dashboard's JSON whose text changed; returns the files written."""
    written = []
    for name in DASHBOARDS:
        path, text = json_path(name, folder), render(name)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def stale(folder: Path = DASHBOARDS_DIR) -> list[Path]:
    """The dashboard JSON files missing or different from what the code builds now."""
    return [json_path(name, folder) for name in DASHBOARDS
            if not json_path(name, folder).is_file()
            or json_path(name, folder).read_text(encoding="utf-8") != render(name)]
