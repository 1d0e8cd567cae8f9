"""Settings of the alert dispatcher."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode

from schemas.settings import HTTP_SCHEMES, Secret, checked_url, settings_config


class AlertSettings(BaseSettings):
    """The alert dispatcher: `crossings.alerts` to webhooks (`crossings alerts dispatch`)."""

    model_config = settings_config("ALERTS_")

    webhook_urls: Annotated[list[str], NoDecode] = Field(
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

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return [url.strip() for url in value.split(",") if url.strip()] if isinstance(value, str) else value

    @field_validator("webhook_urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for number, url in enumerate(urls, 1):
            checked_url(url, HTTP_SCHEMES, f"URL {number} of {len(urls)} must be an http(s) URL")
        return urls
