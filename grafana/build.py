"""The dashboards by name, their JSON, the alert rules' provisioning file, and `crossings grafana
build` writing them."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from grafana.alerts import render_rules
from grafana.dashboards import analysts, freight, ops_centre, pipeline_health, port_detail
from grafana.panels import build_dashboard, import_header
from grafana.settings import GrafanaSettings

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
RULES_PATH = Path(__file__).resolve().parent / "provisioning" / "alerting" / "rules.yaml"

DASHBOARDS: dict[str, ModuleType] = {
    "ops_centre": ops_centre,
    "port_detail": port_detail,
    "freight": freight,
    "analysts": analysts,
    "pipeline_health": pipeline_health,
}


def build(name: str, settings: GrafanaSettings) -> Dashboard:
    return build_dashboard(DASHBOARDS[name], settings)


def render(name: str, settings: GrafanaSettings) -> str:
    """The dashboard's JSON text, keys sorted, as committed under grafana/dashboards/: the
    SDK's dashboard with the `__inputs` and `__requires` of an exported one."""
    document = json.loads(json.dumps(build(name, settings), cls=JSONEncoder)) | import_header(DASHBOARDS[name])
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def json_path(name: str, folder: Path = DASHBOARDS_DIR) -> Path:
    return folder / f"{name}.json"


def _generated(settings: GrafanaSettings, folder: Path, rules_path: Path) -> list[tuple[Path, str]]:
    """Every generated file and its text: the dashboards' JSON, then the alert rules' YAML."""
    return [*((json_path(name, folder), render(name, settings)) for name in DASHBOARDS), (rules_path, render_rules())]


def _differs(path: Path, text: str) -> bool:
    return not path.is_file() or path.read_text(encoding="utf-8") != text


def write_all(settings: GrafanaSettings, folder: Path = DASHBOARDS_DIR, rules_path: Path = RULES_PATH) -> list[Path]:
    """Writes every generated file whose text changed; returns the files written."""
    written = []
    for path, text in _generated(settings, folder, rules_path):
        if _differs(path, text):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written


def stale(settings: GrafanaSettings, folder: Path = DASHBOARDS_DIR, rules_path: Path = RULES_PATH) -> list[Path]:
    """The generated files (dashboard JSON, alert rules) missing or different from what the
    code builds now."""
    return [path for path, text in _generated(settings, folder, rules_path) if _differs(path, text)]
