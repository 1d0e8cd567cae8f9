"""Every setting of the system, for the CLI and the docs: each class lives beside its system's
code and is built at an entry point (a command, the demo, a job script) and passed down.

Every variable is listed in `.env.example`; `python -m pipeline.settings` prints the table of
docs/settings.md.
"""

from __future__ import annotations

from pydantic import SecretStr, ValidationError

from connectors.alerts.settings import AlertSettings
from connectors.clickhouse.settings import ClickHouseAnalystSettings, ClickHouseSettings, LoaderSettings
from connectors.kafka.settings import KafkaSettings
from deploy.services.settings import AlertmanagerSettings, FlinkSettings, PrometheusSettings, StatusSettings
from grafana.settings import GrafanaSettings
from pipeline.jobs.settings import PipelineSettings
from schemas.privacy import PrivacySettings

ALL_SETTINGS = (
    KafkaSettings,
    FlinkSettings,
    PipelineSettings,
    ClickHouseSettings,
    GrafanaSettings,
    ClickHouseAnalystSettings,
    PrivacySettings,
    LoaderSettings,
    AlertSettings,
    AlertmanagerSettings,
    PrometheusSettings,
    StatusSettings,
)


def settings_error_line(error: ValidationError) -> str | None:
    """One line naming each variable that a settings class refused and the rule it breaks,
    never the value; None when `error` is not about settings."""
    cls = next((cls for cls in ALL_SETTINGS if cls.__name__ == error.title), None)
    if cls is None:
        return None
    prefix = cls.model_config["env_prefix"]
    return "; ".join(
        f"{prefix}{str(item['loc'][0]).upper()}: {item['msg'].removeprefix('Value error, ')}"
        for item in error.errors(include_url=False, include_input=False)
    )


def settings_table() -> str:
    """Every setting as the rows of a Markdown table: variable, default, meaning (docs/settings.md)."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for cls in ALL_SETTINGS:
        prefix = cls.model_config["env_prefix"]
        for name, field in cls.model_fields.items():
            default = field.get_default(call_default_factory=True)
            if isinstance(default, SecretStr):
                default = default.get_secret_value()
            shown = f"`{default}`" if default not in (None, "", []) else ""
            rows.append(f"| `{prefix}{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
