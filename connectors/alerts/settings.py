"""Settings of the alert dispatcher."""

from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings

from schemas.settings import HttpUrl, HttpUrls, Secret, settings_config


class AlertSettings(BaseSettings):
    """The alert dispatcher: `crossings.alerts` to Alertmanager, or else to webhooks (`crossings alerts dispatch`)."""

    model_config = settings_config("ALERTS_")

    alertmanager_url: HttpUrl | None = Field(
        None,
        description="Alertmanager's base http(s) URL (episodes go to its /api/v2/alerts); when set, "
        "ALERTS_WEBHOOK_URLS are not used: receivers, grouping and silences are Alertmanager's",
    )
    alertmanager_token: Secret | None = Field(None, description="sent to Alertmanager as `Authorization: Bearer`")
    alertmanager_repost_s: float = Field(
        300.0, gt=0, description="open episodes are posted to Alertmanager again this often, with a new endsAt"
    )
    alertmanager_ends_after_s: float = Field(
        3600.0,
        gt=0,
        description="an open episode is posted with endsAt this far ahead: Alertmanager resolves it by itself "
        "only if the dispatcher has not posted it again by then",
    )
    webhook_urls: HttpUrls = Field(
        default_factory=list, description="comma-separated http(s) URLs; none = alerts are logged to the console"
    )
    webhook_token: Secret | None = Field(None, description="sent to every webhook as `Authorization: Bearer`")
    group_id: str = Field("crossings-alerts", description="Kafka consumer group of the dispatcher")
    timeout_s: float = Field(10.0, gt=0, description="connect and read timeout of one POST")
    backoff_initial_ms: int = Field(500, ge=1, description="first wait before retrying a failed POST")
    backoff_max_ms: int = Field(60_000, ge=1, description="retry waits double up to this")
    delivery_max_seconds: float = Field(
        1800.0,
        gt=0,
        description="a webhook's failed POSTs of an alert (5xx, 408, 429, connection errors, timeouts) "
        "are retried this long after the alert was read, then recorded as a failed delivery; other 4xx are not retried",
    )
    max_poll_interval_s: int = Field(
        300,
        ge=7,
        description="librdkafka's max.poll.interval.ms: the dispatcher polls while webhooks retry, so "
        "an outage of any length keeps it in its group",
    )
    metrics_port: int = Field(
        9465, ge=0, le=65535, description="port of its Prometheus metrics (/metrics); 0 = a free port, logged at start"
    )

    @model_validator(mode="after")
    def _repost_before_end(self) -> AlertSettings:
        if self.alertmanager_ends_after_s <= self.alertmanager_repost_s:
            raise ValueError("ALERTS_ALERTMANAGER_ENDS_AFTER_S must be longer than ALERTS_ALERTMANAGER_REPOST_S")
        return self
