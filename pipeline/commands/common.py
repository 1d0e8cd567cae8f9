"""What several command groups share: the user-error type and where the Kafka broker is."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

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


def log_to_console() -> None:
    """INFO lines with time and logger for long-running consumers; the Kafka client's own
    chatter only from WARNING up."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by Ctrl-C or SIGTERM while the block runs, for a loop to stop cleanly;
    the previous handlers come back after it."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
