"""Settings of the Grafana instance that `crossings grafana push` provisions and of the boards."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

from schemas.settings import HttpUrl, Secret, settings_config


class GrafanaSettings(BaseSettings):
    """The Grafana instance that `crossings grafana push` provisions, and what the boards are
    built with (`crossings grafana build`, the offline report)."""

    model_config = settings_config("GRAFANA_")

    url: HttpUrl | None = Field(None, description="base URL of Grafana")
    token: Secret = Field(SecretStr(""), description="service-account token")
    alert_webhook_url: HttpUrl | None = Field(
        None, description="http(s) URL the crossings-webhook contact point posts alerts to"
    )
    prometheus_url: HttpUrl | None = Field(
        None, description="http(s) URL at which Grafana reaches Prometheus (the crossings-prometheus data source)"
    )
    timeout_s: float = Field(10.0, gt=0, description="connect and read timeout of one Grafana API call")
    freshness_red_s: int = Field(
        300,
        gt=0,
        description="the boards show pipeline freshness red past this many seconds (`crossings grafana build` "
        "writes it into the dashboards' JSON)",
    )
