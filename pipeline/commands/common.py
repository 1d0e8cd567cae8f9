"""What several command groups share: the user-error type and where the Kafka broker is."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from connectors.alerts.settings import AlertSettings
from connectors.clickhouse.settings import LoaderSettings
from connectors.kafka.settings import KafkaSettings
from deploy.services import LocalStack
from deploy.services.process import STOP_SIGNALS, StoppedBySignal
from deploy.services.settings import AlertmanagerSettings, FlinkSettings, PrometheusSettings
from schemas.privacy import PrivacySettings


class UserError(RuntimeError):
    """A problem the user can fix; `crossings` prints it without a stack trace."""


def local_stack() -> LocalStack:
    """The services `crossings services up` starts, as the settings describe them."""
    return LocalStack(
        KafkaSettings(),
        FlinkSettings(),
        PrivacySettings(),
        alertmanager_settings=AlertmanagerSettings(),
        prometheus_settings=PrometheusSettings(),
        metrics_ports={"loader": LoaderSettings().metrics_port, "dispatcher": AlertSettings().metrics_port},
    )


def kafka_bootstrap(settings: KafkaSettings | None = None) -> str:
    """KAFKA_BOOTSTRAP_SERVERS, else the broker `crossings services up` started."""
    settings = settings or KafkaSettings()
    if settings.bootstrap_servers:
        return settings.bootstrap_servers
    kafka = local_stack().status()["kafka"]
    if kafka["running"]:
        return kafka["bootstrap"]
    raise UserError("no Kafka broker: set KAFKA_BOOTSTRAP_SERVERS or run `crossings services up`")


def log_to_console() -> None:
    """INFO lines with time and logger for long-running consumers; the Kafka client's own
    chatter only from WARNING up."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)


class StopRequest(threading.Event):
    """Set by a stop signal (or by the code itself, to end its loops); `signum`: the signal, if one set it."""

    signum: int | None = None

    def raise_if_signalled(self) -> None:
        """After a clean stop: end the command as stopped by that signal (exit 128 + its number)."""
        if self.signum is not None:
            raise StoppedBySignal(self.signum)


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """A stop request set by Ctrl-C, SIGTERM or SIGHUP while the block runs, for a loop to stop
    cleanly; a second signal does not wait for that and raises `StoppedBySignal` at once. The
    previous handlers come back after the block."""
    stop = StopRequest()

    def request(signum: int, _frame: object) -> None:
        if stop.signum is not None:
            raise StoppedBySignal(signum)
        stop.signum = signum
        stop.set()

    previous = {sig: signal.signal(sig, request) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
