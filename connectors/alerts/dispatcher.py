"""The alert dispatcher: each raised and resolved episode of `crossings.alerts` to every webhook.

One consumer group (`GroupReader`: read_committed, no auto-commit) reads the alerts topic, one
message at a time in partition order (the job keys alerts by episode_id, so an episode's
`raised` comes before its `resolved`). A message is POSTed as JSON (its fields, plus a short
human `summary` and its `idempotency_key`) to every configured webhook; a webhook that does
not answer 2xx (connection refused or reset, timeout, 5xx, 429, or any other status: a 4xx is
as likely a wrong URL or token as a bad message, and a dropped alert is worse than a late one)
is retried with capped exponential backoff until it does, so no message is ever skipped while
a webhook is down; the webhooks that already accepted the message are not posted to again.
Only when every webhook has accepted it is its offset committed, right away, one message at a
time. Without webhooks the alerts are logged to the console instead.

Delivery is at least once. A crash, a stop, or a lost group membership (a webhook down longer
than max.poll.interval.ms, 15 min) between the first accepted POST of a message and the commit
of its offset sends that message again, to every webhook, so each POST carries the header
`Idempotency-Key: <episode_id>:<state>`, the same for every copy of a message: exactly-once
delivery over HTTP needs the receiver to drop a key it has already seen; the dispatcher alone
can only make such a copy rare (one message per partition, per crash). A POST whose answer is
lost (a timeout after the receiver took it) is retried, and so also arrives twice.

A record that is not a valid alert (bad JSON, a missing field, an unknown state) is logged
with its coordinates, counted as `rejected`, and its offset committed; tombstones are counted
and skipped. SIGINT/SIGTERM (the `stop` event) end a retry at once: that message is not
committed, and a restart delivers it.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from confluent_kafka import KafkaException

from connectors.kafka.consumer import CommitRefused, CommitRetriable, GroupReader, Partition, Record
from connectors.kafka.topics import ALERTS
from connectors.retry import Backoff, Stopped, retry
from pipeline.settings import AlertSettings
from schemas.ports import load_ports

log = logging.getLogger(__name__)

USER_AGENT = "crossings-alerts/1"
STATES = ("raised", "resolved")
_REQUIRED = {"episode_id": str, "state": str, "severity": str, "port_code": str, "kind": str, "direction": str,
             "started_at": str, "peak_p90_s": (int, float), "threshold_s": (int, float)}


class AlertError(ValueError):
    """A record of the alerts topic that is not an alert message."""


def parse_alert(value: bytes) -> dict[str, Any]:
    """The message of one record (the job's alert_sink format); AlertError when it is not one."""
    try:
        alert = orjson.loads(value)
    except orjson.JSONDecodeError as error:
        raise AlertError(f"not JSON: {error}") from error
    if not isinstance(alert, dict):
        raise AlertError(f"not a JSON object: {value[:80]!r}")
    for name, kind in _REQUIRED.items():
        if isinstance(alert.get(name), bool) or not isinstance(alert.get(name), kind):
            raise AlertError(f"{name}: missing or not a {getattr(kind, '__name__', 'number')}: {alert.get(name)!r}")
    if alert["state"] not in STATES:
        raise AlertError(f"state: not one of {', '.join(STATES)}: {alert['state']!r}")
    if alert.get("ended_at") is not None and not isinstance(alert["ended_at"], str):
        raise AlertError(f"ended_at: not a timestamp: {alert['ended_at']!r}")
    return alert


def idempotency_key(alert: dict[str, Any]) -> str:
    """The same for every copy of one message: `<episode_id>:<state>`."""
    return f"{alert['episode_id']}:{alert['state']}"


def port_name(code: str) -> str:
    registry = load_ports()
    return registry.get(code).name_en if code in registry else code


def _minute(timestamp: str | None) -> str:
    """'2024-05-01T08:00:00.123Z' -> '2024-05-01 08:00 UTC' (text that is not one, as it is)."""
    if timestamp and len(timestamp) >= 16 and timestamp[10] == "T":
        return f"{timestamp[:10]} {timestamp[11:16]} UTC"
    return str(timestamp)


def summary(alert: dict[str, Any]) -> str:
    """One line for a duty officer, e.g. 'CRITICAL raised: traveller exit clearance at Luohu Port is
    slow: p90 950 s over the 300 s threshold since 2024-05-01 08:00 UTC'."""
    what = f"{alert['kind']} {alert['direction']} clearance at {port_name(alert['port_code'])}"
    peak, threshold = round(alert["peak_p90_s"]), round(alert["threshold_s"])
    if alert["state"] == "raised":
        return (f"{alert['severity'].upper()} raised: {what} is slow: p90 {peak} s over the {threshold} s threshold "
                f"since {_minute(alert['started_at'])}")
    return (f"{alert['severity'].upper()} resolved: {what} is back under the {threshold} s threshold "
            f"(peak p90 {peak} s, {_minute(alert['started_at'])} to {_minute(alert.get('ended_at'))})")


def body(alert: dict[str, Any]) -> bytes:
    """The JSON body of the POST: the message's fields, `summary` and `idempotency_key`."""
    return orjson.dumps({**alert, "summary": summary(alert), "idempotency_key": idempotency_key(alert)})


class DeliveryError(Exception):
    """A POST that the webhook did not accept (retried)."""


class Webhook:
    """One receiver: its URL and one HTTP connection for the whole run (kept alive when the
    server allows it, opened again after an error). The token is sent, never logged."""

    def __init__(self, url: str, token: str | None, timeout_s: float) -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname or "", parts.port
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        # paths and queries of webhook URLs often hold a secret: logs name the server only
        self.name = f"{parts.scheme}://{self.host}{f':{self.port}' if self.port else ''}"
        self.headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.timeout_s = timeout_s
        self._connection: http.client.HTTPConnection | None = None

    def post(self, payload: bytes, headers: dict[str, str]) -> int:
        """The status of a 2xx answer; DeliveryError for anything else."""
        try:
            if self._connection is None:
                kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self._connection = kind(self.host, self.port, timeout=self.timeout_s)
            self._connection.request("POST", self.path, payload, {**self.headers, **headers})
            response = self._connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise DeliveryError(f"{self.name}: {type(error).__name__}: {error}") from error
        if not 200 <= response.status < 300:
            raise DeliveryError(f"{self.name}: HTTP {response.status} {response.reason}")
        return response.status

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass
class DispatcherStats:
    """What the dispatcher has done so far; `as_dict()` is the `--json` output."""

    started_at: float = field(default_factory=time.monotonic)
    alerts: int = 0
    alerts_per_state: Counter = field(default_factory=Counter)
    posts: int = 0
    failed_posts: int = 0
    logged: int = 0
    tombstones: int = 0
    rejected: int = 0
    commits: int = 0
    failed_commits: int = 0
    lag: int = 0
    last_alert_at: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        del data["started_at"]
        data["alerts_per_state"] = dict(sorted(self.alerts_per_state.items()))
        data["elapsed_s"] = round(time.monotonic() - self.started_at, 3)
        return data

    def line(self) -> str:
        states = " ".join(f"{state}={count}" for state, count in sorted(self.alerts_per_state.items()))
        return (f"dispatched {self.alerts} alerts {states}; posts {self.posts}; failed posts {self.failed_posts}; "
                f"lag {self.lag}; tombstones {self.tombstones}; rejected {self.rejected}; "
                f"last alert {self.last_alert_at or 'never'}")


class Dispatcher:
    """Dispatches alerts until `stop` is set (or, with `once`, until it has caught up).
    One consumer and one connection per webhook for the whole run."""

    def __init__(self, bootstrap: str, settings: AlertSettings | None = None, topic: str = ALERTS.name,
                 stop: threading.Event | None = None, stats_interval_s: float = 10.0) -> None:
        self.settings = settings or AlertSettings()
        self.topic = topic
        self.stop = stop or threading.Event()
        self.stats = DispatcherStats()
        self.stats_interval_s = stats_interval_s
        self.backoff = Backoff.from_ms(self.settings.backoff_initial_ms, self.settings.backoff_max_ms)
        token = self.settings.webhook_token.get_secret_value() if self.settings.webhook_token else None
        self.webhooks = [Webhook(url, token, self.settings.timeout_s) for url in self.settings.webhook_urls]
        self._uncommitted: dict[Partition, int] = {}  # skipped records not committed yet
        self._committed: dict[Partition, int] = {}
        self.reader = GroupReader(
            bootstrap, self.settings.group_id, "crossings-alerts", [topic], on_revoke=self._commit_before_revoke,
            # a retry blocks the poll loop: the group keeps this consumer (and its partitions) while
            # a webhook is down this long, then rebalances (default 5 min)
            **{"max.poll.interval.ms": 900_000})
        self.reader.subscribe()

    def run(self, once: bool = False) -> DispatcherStats:
        """Dispatch until stopped; `once`: until every assigned partition is read to its end."""
        if self.webhooks:
            log.info("alerts of %s to %s", self.topic, ", ".join(webhook.name for webhook in self.webhooks))
        else:
            log.info("no webhook configured (ALERTS_WEBHOOK_URLS): the alerts of %s are logged here", self.topic)
        last_report = time.monotonic()
        try:
            while not self.stop.is_set():
                # alerts are few: a small poll keeps the records read ahead of delivery few too
                polled = self._dispatch(self.reader.poll(20, 0.5))
                if once and not polled and self._caught_up():
                    break
                if time.monotonic() - last_report >= self.stats_interval_s:
                    self._update_lag()
                    log.info(self.stats.line())
                    last_report = time.monotonic()
        except Stopped as stopped:
            log.warning("%s; its offset is not committed: a restart delivers it", stopped)
        finally:
            try:
                self._commit_skipped()
                self._update_lag()
            except (KafkaException, CommitRefused, Stopped) as error:  # the broker or the group is gone
                log.warning("cannot commit or read the end offsets: %s", error)
            self.reader.close()
            for webhook in self.webhooks:
                webhook.close()
        return self.stats

    def _dispatch(self, records: list[Record]) -> int:
        """Delivers the polled records in order, committing each; returns how many."""
        count = 0
        try:
            for record in records:
                count += 1
                partition = (record.topic, record.partition)
                if self._handle(record):
                    self._commit({partition: record.offset + 1})
                else:
                    self._uncommitted[partition] = record.offset + 1
            self._commit_skipped()
        except CommitRefused as error:
            # the group rebalanced (a retry outlasted max.poll.interval.ms). Rewind every
            # partition of this poll to its first record not committed: one this consumer keeps
            # would otherwise read on after the rest of this poll, which is not delivered
            self.stats.failed_commits += 1
            self._uncommitted.clear()
            log.warning("offset commit failed, the group rebalanced; uncommitted alerts are read again: %s", error)
            first: dict[Partition, int] = {}
            for record in records:
                first.setdefault((record.topic, record.partition), record.offset)
            for partition, offset in first.items():
                self.reader.rewind(partition, max(offset, self._committed.get(partition, 0)))
        return count

    def _handle(self, record: Record) -> bool:
        """Delivers one record; False when there was nothing to deliver (tombstone, rejected)."""
        if record.value is None:
            self.stats.tombstones += 1
            return False
        try:
            alert = parse_alert(record.value)
        except AlertError as error:
            self.stats.rejected += 1
            log.error("rejected %s: %s", record.where, error)
            return False
        self.deliver(alert)
        self.stats.alerts += 1
        self.stats.alerts_per_state[alert["state"]] += 1
        self.stats.last_alert_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        return True

    def deliver(self, alert: dict[str, Any]) -> None:
        """To every webhook (each retried until it accepts), or to the console without any."""
        if not self.webhooks:
            log.log(logging.WARNING if alert["state"] == "raised" else logging.INFO, "ALERT %s", summary(alert))
            self.stats.logged += 1
            return
        payload, key = body(alert), idempotency_key(alert)
        for webhook in self.webhooks:
            def failed(error: BaseException, delay: float, webhook: Webhook = webhook) -> None:
                self.stats.failed_posts += 1
                log.warning("alert %s to %s not accepted (retrying in %.2f s): %s", key, webhook.name, delay, error)

            retry(lambda webhook=webhook: webhook.post(payload, {"Idempotency-Key": key}), DeliveryError,
                  self.backoff, self.stop, failed,
                  lambda webhook=webhook: f"stopped before {webhook.name} accepted alert {key}")
            self.stats.posts += 1

    def _commit(self, offsets: dict[Partition, int]) -> None:
        """While the broker is away, retried with the webhook backoff."""
        def failed(error: BaseException, delay: float) -> None:
            self.stats.failed_commits += 1
            log.warning("offset commit failed (retrying in %.2f s): %s", delay, error)

        retry(lambda: self.reader.commit(offsets), CommitRetriable, self.backoff, self.stop, failed,
              lambda: "stopped before the offset of a delivered alert was committed")
        self.stats.commits += 1
        self._committed.update(offsets)
        for partition in offsets:
            self._uncommitted.pop(partition, None)

    def _commit_skipped(self) -> None:
        """The offsets of trailing tombstones and rejected records (nothing to deliver)."""
        if self._uncommitted:
            self._commit(dict(self._uncommitted))

    def _caught_up(self) -> bool:
        return self.reader.at_end() and self._update_lag() == 0

    def _update_lag(self) -> int:
        lag = self.reader.lag()
        if lag is not None:
            self.stats.lag = sum(lag.values())
        return self.stats.lag

    def _commit_before_revoke(self, revoked: list[Partition]) -> None:
        """Before partitions move to another dispatcher, commit the skipped records read from
        them (every delivered alert is committed already)."""
        try:
            self._commit_skipped()
        except (KafkaException, CommitRefused, Stopped) as error:
            log.warning("cannot commit before the rebalance: %s", error)
