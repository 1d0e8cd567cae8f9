"""What several command groups share: the user-error type and where the Kafka broker is."""

from __future__ import annotations

from deploy.services import LocalStack
from pipeline.settings import KafkaSettings


class UserError(RuntimeError):
    """A problem the user can fix; `crossings` prints it without a stack trace."""


def kafka_bootstrap(settings: KafkaSettings | None = None) -> str:
    """KAFKA_BOOTSTRAP_SERVERS, else the broker `crossings services up` started."""
    settings = settings or KafkaSettings()
    if settings.bootstrap_servers:
        return settings.bootstrap_servers
    kafka = LocalStack.from_env().status()["kafka"]
    if kafka["running"]:
        return kafka["bootstrap"]
    raise UserError("no Kafka broker: set KAFKA_BOOTSTRAP_SERVERS or run `crossings services up`")
