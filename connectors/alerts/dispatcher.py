"""The alert dispatcher: each raised and resolved episode of `crossings.alerts` to Alertmanager,
or else to every webhook.

With `ALERTS_ALERTMANAGER_URL` set, each message is POSTed to Alertmanager's `/api/v2/alerts` as
one alert (`alertmanager_alert`): labels `alertname=ClearanceSpike`, `port`, `kind`,
`direction`, `severity` and `episode_id` (one episode = one alert identity), the episode's
start, end, peak p90 and threshold as annotations. A forecast episode (an early warning,
severity `early-warning`) also has the label `episode_type=forecast`, and its horizon and
diversion advice (`advice_port_code`, `advice_port_name`, `advice_forecast_s`,
`advice_difference_min`) as annotations; a clearance episode's labels are those it always had.
Alertmanager resolves a firing alert by itself at its endsAt, so a raised episode is posted with
endsAt `ALERTS_ALERTMANAGER_ENDS_AFTER_S` ahead, and every open episode is posted again every
`ALERTS_ALERTMANAGER_REPOST_S` with a new endsAt (one POST of them all); a resolved one is
posted with endsAt its end (now at the latest). A dispatcher that starts asks Alertmanager for
the ClearanceSpike alerts still firing and re-posts those too, so a restart does not let an open
episode lapse. Alertmanager is then the one receiver (named `alertmanager` in logs and stats),
delivered to like a webhook below; its receivers, grouping, silences and inhibition decide who
is notified. The webhooks are the fallback without it.

One consumer group (`GroupReader`: read_committed, no auto-commit) reads the alerts topic in
partition order (the job keys alerts by episode_id, so an episode's `raised` comes before its
`resolved`). A message is POSTed as JSON (its fields, plus a short human `summary` and its
`idempotency_key`) to every configured webhook. Without webhooks the alerts are logged to the
console instead.

Each webhook has a delivery state of its own (`WebhookWorker`: a queue, a thread, one HTTP
connection), so a slow or dead receiver never delays another: the consumer hands each message
to every worker and reads on, and each worker POSTs its queue in order. Per webhook:

- a 2xx answer delivers the message;
- a 4xx other than 408 and 429 (a wrong URL or token, a refused message: the same answer
  again) is a failed delivery at once: logged with the episode and the webhook, counted in the
  stats (`failed_deliveries`, `failed_per_webhook`), not retried;
- anything else (5xx, 408, 429, another status, a refused or reset connection, a timeout) is
  retried with exponential backoff (`ALERTS_BACKOFF_*`, waits of half to all of each step, at
  least a 429/503's Retry-After) until `ALERTS_DELIVERY_MAX_SECONDS` after the message was read,
  then recorded as failed the same way. A message that waited that long behind others in a
  webhook's queue still gets one attempt.

Offsets: a message's offset is committed once every webhook has finished with it, delivered or
recorded as failed, and only with every message before it in its partition (the consumer
commits the longest finished prefix of each partition). So a restart never loses a message for
any webhook: a healthy one may get it again (same `Idempotency-Key`) when another was still
retrying it, and a webhook that gave up has its failure recorded before the commit passes it.
The commit of a partition waits at most about `ALERTS_DELIVERY_MAX_SECONDS` (plus a POST
timeout) behind the read position; at most `MAX_IN_FLIGHT` messages wait to be finished (the
partitions are paused beyond), and the consumer polls all the while, so it keeps its group.

Delivery is at least once. A crash, a stop, or a rebalance before a message's offset is
committed sends it again, to every webhook, so each POST carries the header
`Idempotency-Key: <episode_id>:<state>`, the same for every copy of a message: exactly-once
delivery over HTTP needs the receiver to drop a key it has already seen. A POST whose answer is
lost (a timeout after the receiver took it) is retried, and so also arrives twice.

Webhook URLs often hold a token in their path or query: logs and stats name a webhook by its
place in `ALERTS_WEBHOOK_URLS` (`webhook 1`, `webhook 2`, ...), never by its URL or server.

A record that is not a valid alert (bad JSON, a missing field, an unknown state) is logged
with its coordinates, counted as `rejected`, and its offset committed; tombstones are counted
and skipped. SIGINT/SIGTERM (the `stop` event) end the retries at once: what is not finished
for every webhook is not committed, and a restart delivers it.
"""

from __future__ import annotations

import http.client
import json
import logging
import queue
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
from confluent_kafka import KafkaException, TopicPartition
from prometheus_client.core import CounterMetricFamily, Metric
from pydantic import ValidationError

from connectors.alerts.settings import AlertSettings
from connectors.kafka.consumer import (
    CommitRefused,
    CommitRetriable,
    ConsumeLoop,
    ConsumerStats,
    GroupReader,
    Partition,
    Record,
    labelled,
)
from connectors.kafka.topics import ALERTS
from connectors.retry import Backoff, Stopped, retry
from schemas.outputs import Alert
from schemas.ports import load_ports

log = logging.getLogger(__name__)

USER_AGENT = "crossings-alerts/1"
# 4xx answers that say "later", not "never"
RETRIED_4XX = frozenset({408, 429})
# messages read and not finished for every webhook, at the most; the partitions pause beyond
MAX_IN_FLIGHT = 1000
# the alertname of the episodes in Alertmanager: clearance spikes, and the forecast's early
# warnings (told apart by their label episode_type=forecast)
ALERTNAME = "ClearanceSpike"
# the forecast an early warning reads, minutes ahead (pipeline/transforms/forecast.py's
# WARNING_HORIZON_MIN, which this layer cannot import)
FORECAST_HORIZON_MIN = 30
ADVICE = ("advice_port_code", "advice_forecast_s", "advice_difference_min")
ALERTMANAGER = "alertmanager"  # its name in logs and stats: never its URL


class AlertError(ValueError):
    """A record of the alerts topic that is not an alert message."""


def parse_alert(value: bytes) -> dict[str, Any]:
    """The message of one record, as the job wrote it; AlertError when it is not an `Alert`."""
    try:
        Alert.model_validate_json(value)
    except ValidationError as error:
        first = error.errors()[0]
        if first["type"] == "json_invalid":
            raise AlertError(f"not JSON: {first['msg']}") from error
        if first["type"] == "model_type":
            raise AlertError(f"not a JSON object: {value[:80]!r}") from error
        raise AlertError(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from error
    return orjson.loads(value)


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


def _minutes(seconds: float) -> int:
    return round(seconds / 60)


def summary(alert: dict[str, Any]) -> str:
    """One line for a duty officer, e.g. 'CRITICAL raised: traveller exit clearance at Luohu Port is
    slow: p90 950 s over the 300 s threshold since 2024-05-01 08:00 UTC'; an early warning
    (`forecast_summary`) reads as one."""
    if alert.get("episode_type") == "forecast":
        return forecast_summary(alert)
    what = f"{alert['kind']} {alert['direction']} clearance at {port_name(alert['port_code'])}"
    peak, threshold = round(alert["peak_p90_s"]), round(alert["threshold_s"])
    if alert["state"] == "raised":
        return (
            f"{alert['severity'].upper()} raised: {what} is slow: p90 {peak} s over the {threshold} s threshold "
            f"since {_minute(alert['started_at'])}"
        )
    return (
        f"{alert['severity'].upper()} resolved: {what} is back under the {threshold} s threshold "
        f"(peak p90 {peak} s, {_minute(alert['started_at'])} to {_minute(alert.get('ended_at'))})"
    )


def forecast_summary(alert: dict[str, Any]) -> str:
    """One line for a forecast episode (an early warning: the p90 expected FORECAST_HORIZON_MIN
    ahead is over the threshold; its peak is the highest forecast), in minutes, with the
    diversion advice when the message has one, e.g. 'EARLY-WARNING raised: Shenzhen Bay Port
    traveller exit: p90 expected 41 min in 30 min, over the 30 min threshold since 2024-05-01
    08:00 UTC; divert to Futian Port (expected 12 min, 29 min less)'."""
    what = f"{port_name(alert['port_code'])} {alert['kind']} {alert['direction']}"
    peak, threshold = _minutes(alert["peak_p90_s"]), _minutes(alert["threshold_s"])
    started = _minute(alert["started_at"])
    if alert["state"] == "resolved":
        return (
            f"{alert['severity'].upper()} resolved: {what}: p90 expected back under the {threshold} min threshold "
            f"(peak forecast {peak} min, {started} to {_minute(alert.get('ended_at'))})"
        )
    text = (
        f"{alert['severity'].upper()} raised: {what}: p90 expected {peak} min in {FORECAST_HORIZON_MIN} min, "
        f"over the {threshold} min threshold since {started}"
    )
    if all(alert.get(name) is not None for name in ADVICE):
        text += (
            f"; divert to {port_name(alert['advice_port_code'])} (expected {_minutes(alert['advice_forecast_s'])} "
            f"min, {round(alert['advice_difference_min'])} min less)"
        )
    return text


def body(alert: dict[str, Any]) -> bytes:
    """The JSON body of the POST: the message's fields, `summary` and `idempotency_key`."""
    return orjson.dumps({**alert, "summary": summary(alert), "idempotency_key": idempotency_key(alert)})


def _instant(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def _rfc3339(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alertmanager_alert(
    alert: dict[str, Any], now: datetime, ends_after_s: float, firing: dict[str, str] | None = None
) -> dict[str, Any]:
    """One message as an alert of Alertmanager's v2 API. A raised episode ends `ends_after_s`
    after `now` (unless posted again before); a resolved one at its end. Event time may be ahead
    of the wall clock (a source's clock): startsAt and a resolved endsAt are `now` at the latest.
    `firing`: the labels the episode was posted with while open. An episode that turned critical
    after it was raised as a warning is resolved with those (its severity as raised), or the
    alert that fires would be another identity and fire on until its endsAt."""
    starts = min(_instant(alert["started_at"]), now)
    if alert["state"] == "resolved":
        ends = max(min(_instant(alert["ended_at"]), now), starts)
    else:
        ends = now + timedelta(seconds=ends_after_s)
    labels = {
        "alertname": ALERTNAME,
        "port": alert["port_code"],
        "kind": alert["kind"],
        "direction": alert["direction"],
        "severity": alert["severity"],
        "episode_id": alert["episode_id"],
    }
    annotations = {
        "summary": summary(alert),
        "port_name": port_name(alert["port_code"]),
        "started_at": alert["started_at"],
        "ended_at": alert.get("ended_at") or "",
        "peak_p90_s": f"{alert['peak_p90_s']:g}",
        "threshold_s": f"{alert['threshold_s']:g}",
    }
    if alert.get("episode_type") == "forecast":
        labels["episode_type"] = annotations["episode_type"] = "forecast"
        annotations["horizon_min"] = str(FORECAST_HORIZON_MIN)
        advice = {name: alert.get(name) for name in ADVICE}
        annotations |= {
            name: value if isinstance(value, str) else f"{value:g}"
            for name, value in advice.items()
            if value is not None
        }
        if advice["advice_port_code"]:
            annotations["advice_port_name"] = port_name(advice["advice_port_code"])
    return {
        "labels": dict(firing) if firing and alert["state"] == "resolved" else labels,
        "annotations": annotations,
        "startsAt": _rfc3339(starts),
        "endsAt": _rfc3339(ends),
    }


def firing_in_alertmanager(base_url: str, token: str | None, timeout_s: float) -> list[dict[str, Any]]:
    """The ClearanceSpike alerts Alertmanager holds as firing (silenced or not), as they are to be
    posted again (labels, annotations, startsAt); DeliveryError when it cannot be asked."""
    matcher = quote(f'alertname="{ALERTNAME}"')
    target = Webhook(f"{base_url.rstrip('/')}/api/v2/alerts?filter={matcher}", token, timeout_s, ALERTMANAGER)
    try:
        alerts = json.loads(target.get())
    finally:
        target.close()
    return [
        {"labels": alert["labels"], "annotations": alert.get("annotations", {}), "startsAt": alert["startsAt"]}
        for alert in alerts
        if alert.get("labels", {}).get("alertname") == ALERTNAME and "episode_id" in alert["labels"]
    ]


def retried(status: int) -> bool:
    """Whether a POST answered `status` (not 2xx) is worth another try: every status but a
    4xx other than 408 and 429."""
    return not 400 <= status < 500 or status in RETRIED_4XX


class DeliveryError(Exception):
    """A POST that the webhook did not accept; `retried` says whether another try may succeed,
    `retry_after_s` is the answer's Retry-After (seconds), if any."""

    def __init__(self, message: str, retried: bool = True, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retried, self.retry_after_s = retried, retry_after_s


class Webhook:
    """One receiver: its URL and one HTTP connection for the whole run (kept alive when the
    server allows it, opened again after an error). `name` is what logs call it: never the URL,
    whose path or query often holds a secret. The token is sent, never logged."""

    def __init__(self, url: str, token: str | None, timeout_s: float, name: str = "webhook") -> None:
        parts = urlsplit(url)
        self.https = parts.scheme == "https"
        self.host, self.port = parts.hostname or "", parts.port
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.name = name
        self.headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.timeout_s = timeout_s
        # what an error text must not show (a TLS error names the host, for one)
        self._hidden = sorted(
            {part for part in (url, parts.netloc, self.host, parts.path, parts.query, token) if part and len(part) > 1},
            key=len,
            reverse=True,
        )
        self._connection: http.client.HTTPConnection | None = None

    def post(self, payload: bytes, headers: dict[str, str]) -> int:
        """The status of a 2xx answer; DeliveryError for anything else."""
        return self._request("POST", payload, headers)[0]

    def get(self) -> bytes:
        """The body of a 2xx answer to a GET; DeliveryError for anything else."""
        return self._request("GET", None, {})[1]

    def _request(self, method: str, payload: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        try:
            if self._connection is None:
                kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
                self._connection = kind(self.host, self.port, timeout=self.timeout_s)
            self._connection.request(method, self.path, payload, {**self.headers, **headers})
            response = self._connection.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise DeliveryError(self._redacted(f"{type(error).__name__}: {error}")) from error
        if not 200 <= response.status < 300:
            retry_after = response.getheader("Retry-After", "").strip()
            raise DeliveryError(
                self._redacted(f"HTTP {response.status} {response.reason}"),
                retried(response.status),
                float(retry_after) if retry_after.isdigit() else None,
            )
        return response.status, content

    def _redacted(self, text: str) -> str:
        for part in self._hidden:
            text = text.replace(part, "…")
        return text

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass(eq=False)
class InFlight:
    """One record read and not yet finished for every webhook (`waiting`: their indexes)."""

    partition: Partition
    offset: int
    alert: dict[str, Any] | None = None
    payload: bytes = b""
    key: str = ""
    deadline: float = 0.0  # retries end then (the clock of the workers)
    waiting: set[int] = field(default_factory=set)
    cancelled: bool = False  # its partition was revoked or rewound: it is read again
    repost: bool = False  # the open episodes posted again to Alertmanager: no record, no commit


@dataclass
class DispatcherStats(ConsumerStats):
    """What the dispatcher has done so far; `as_dict()` is the `--json` output. Workers update
    it under `lock`."""

    alerts: int = 0  # finished for every webhook (delivered or recorded as failed)
    alerts_per_state: Counter = field(default_factory=Counter)
    posts: int = 0  # accepted
    failed_posts: int = 0  # attempts not accepted, retried or not
    failed_deliveries: int = 0  # a webhook that gave up on a message, or had a 4xx answer
    failed_per_webhook: Counter = field(default_factory=Counter)
    delivered_per_webhook: Counter = field(default_factory=Counter)  # messages accepted (not re-posts)
    logged: int = 0
    reposts: int = 0  # POSTs of the open episodes again to Alertmanager, accepted
    failed_commits: int = 0
    in_flight: int = 0  # read, not finished for every webhook
    last_alert_at: str | None = None

    def __post_init__(self) -> None:
        self.lock = threading.Lock()

    def as_dict(self) -> dict[str, Any]:
        with self.lock:
            return super().as_dict()

    def line(self) -> str:
        states = " ".join(f"{state}={count}" for state, count in sorted(self.alerts_per_state.items()))
        return (
            f"dispatched {self.alerts} alerts {states}; posts {self.posts}; failed posts {self.failed_posts}; "
            f"failed deliveries {self.failed_deliveries}; in flight {self.in_flight}; lag {self.lag_text}; "
            f"tombstones {self.tombstones}; rejected {self.rejected}; last alert {self.last_alert_at or 'never'}"
        )


class WebhookWorker:
    """The delivery state of one webhook: a queue of messages, a thread that POSTs them in order,
    and the retry schedule of each (module docstring). `clock`, `wait` (returns True when the
    wait was cut short by a stop) and `jitter` (0..1) are injectable for tests."""

    def __init__(
        self,
        index: int,
        webhook: Webhook,
        settings: AlertSettings,
        stats: DispatcherStats,
        on_done: Callable[[InFlight, int], None] = lambda entry, index: None,
        clock: Callable[[], float] = time.monotonic,
        wait: Callable[[float], bool] | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.index, self.webhook, self.stats, self.on_done = index, webhook, stats, on_done
        self.backoff = Backoff.from_ms(settings.backoff_initial_ms, settings.backoff_max_ms)
        self.halt = threading.Event()
        self.clock, self.wait, self.jitter = clock, wait or self.halt.wait, jitter
        self.queue: queue.SimpleQueue[InFlight | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._work, name=f"alerts-{webhook.name}", daemon=True)

    def deliver(self, entry: InFlight) -> bool | None:
        """POSTs one message until it is accepted (True), fails for good (False, recorded), or is
        cancelled (None); Stopped when a stop cuts a wait short."""
        delays = self.backoff.delays()
        attempts, first = 0, self.clock()
        while True:
            attempts += 1
            try:
                self.webhook.post(entry.payload, {"Idempotency-Key": entry.key})
            except DeliveryError as error:
                with self.stats.lock:
                    self.stats.failed_posts += 1
                now = self.clock()
                if not error.retried:
                    return self._failed(entry, f"{error}, not retried")
                if now >= entry.deadline:
                    return self._failed(entry, f"{error}; gave up after {attempts} attempts in {now - first:.1f} s")
                step = next(delays)
                delay = min(max(step * (0.5 + self.jitter() / 2), error.retry_after_s or 0), entry.deadline - now)
                log.warning(
                    "alert %s to %s not accepted (retrying in %.2f s): %s", entry.key, self.webhook.name, delay, error
                )
                if self.wait(delay):
                    raise Stopped(f"stopped before {self.webhook.name} accepted alert {entry.key}") from error
                if entry.cancelled:
                    return None
            else:
                with self.stats.lock:
                    if entry.repost:
                        self.stats.reposts += 1
                    else:
                        self.stats.posts += 1
                        self.stats.delivered_per_webhook[self.webhook.name] += 1
                return True

    def _failed(self, entry: InFlight, why: str) -> bool:
        log.error(
            "delivery failed: episode %s %s to %s: %s",
            entry.alert["episode_id"],
            entry.alert["state"],
            self.webhook.name,
            why,
        )
        with self.stats.lock:
            self.stats.failed_deliveries += 1
            self.stats.failed_per_webhook[self.webhook.name] += 1
        return False

    def start(self) -> None:
        self.thread.start()

    def submit(self, entry: InFlight) -> None:
        self.queue.put(entry)

    def stop(self) -> None:
        """Ends the thread after its current attempt, with what is queued not finished."""
        self.halt.set()
        self.queue.put(None)

    def _work(self) -> None:
        try:
            while (entry := self.queue.get()) is not None and not self.halt.is_set():
                if not entry.cancelled and self.deliver(entry) is not None:
                    self.on_done(entry, self.index)
        except Stopped as stopped:
            log.info("%s", stopped)
        finally:
            self.webhook.close()


class Dispatcher(ConsumeLoop):
    """Dispatches alerts until `stop` is set (or, with `once`, until it has caught up and every
    message read is finished). One consumer, and one worker and connection per webhook, for the
    whole run; `reader` and `clock` are injectable for tests. Metrics (`crossings_dispatcher_*`,
    served on `metrics_port` during the run): records read and consumer lag per topic,
    deliveries and failed deliveries per receiver (`webhook 1`, ... or `alertmanager`)."""

    metrics_prefix = "crossings_dispatcher"

    def __init__(
        self,
        bootstrap: str,
        settings: AlertSettings,
        topic: str = ALERTS.name,
        stop: threading.Event | None = None,
        stats_interval_s: float = 10.0,
        reader: GroupReader | None = None,
        clock: Callable[[], float] = time.monotonic,
        metrics_port: int | None = None,
    ) -> None:
        self.settings = settings
        self.topic = topic
        self.clock = clock
        self.backoff = Backoff.from_ms(self.settings.backoff_initial_ms, self.settings.backoff_max_ms)
        stats = DispatcherStats()
        self.alertmanager = self.settings.alertmanager_url
        if self.alertmanager:  # the one receiver; the webhooks are the fallback without it
            secret = self.settings.alertmanager_token
            self._am_token = secret.get_secret_value() if secret else None
            url = f"{self.alertmanager.rstrip('/')}/api/v2/alerts"
            self.webhooks = [Webhook(url, self._am_token, self.settings.timeout_s, ALERTMANAGER)]
        else:
            token = self.settings.webhook_token.get_secret_value() if self.settings.webhook_token else None
            self.webhooks = [
                Webhook(url, token, self.settings.timeout_s, f"webhook {number}")
                for number, url in enumerate(self.settings.webhook_urls, 1)
            ]
        self._open: dict[str, dict[str, Any]] = {}  # episode id -> its Alertmanager alert, while open
        self._next_repost = clock() + self.settings.alertmanager_repost_s
        self.workers = [
            WebhookWorker(index, webhook, self.settings, stats, self._done, clock)
            for index, webhook in enumerate(self.webhooks)
        ]
        self._pending: dict[Partition, deque[InFlight]] = {}  # per partition, in offset order
        self._lock = threading.Lock()
        self._paused = False
        # the poll loop never waits on a webhook, so it keeps within max.poll.interval.ms
        super().__init__(
            reader
            or GroupReader(
                bootstrap,
                self.settings.group_id,
                "crossings-alerts",
                [topic],
                on_revoke=self._commit_before_revoke,
                **{"max.poll.interval.ms": self.settings.max_poll_interval_s * 1000},
            ),
            stats,
            stop or threading.Event(),
            stats_interval_s,
            metrics_port,
        )
        if reader is None:
            self.reader.subscribe()

    def metric_families(self) -> list[Metric]:
        prefix = self.metrics_prefix
        with self.stats.lock:
            delivered, failed = dict(self.stats.delivered_per_webhook), dict(self.stats.failed_per_webhook)
        receivers = [webhook.name for webhook in self.webhooks]
        return [
            *super().metric_families(),
            labelled(
                CounterMetricFamily(f"{prefix}_deliveries", "alert messages a receiver accepted", labels=["receiver"]),
                {name: delivered.get(name, 0) for name in receivers},
            ),
            labelled(
                CounterMetricFamily(
                    f"{prefix}_failed_deliveries",
                    "alert messages a receiver refused (4xx) or did not accept in time",
                    labels=["receiver"],
                ),
                {name: failed.get(name, 0) for name in receivers},
            ),
        ]

    def started(self) -> None:
        if self.alertmanager:
            log.info("alerts of %s to Alertmanager (ALERTS_ALERTMANAGER_URL)", self.topic)
            self._recover_open()
        elif self.webhooks:
            log.info(
                "alerts of %s to %d webhooks (%s)",
                self.topic,
                len(self.webhooks),
                ", ".join(webhook.name for webhook in self.webhooks),
            )
        else:
            log.info("no webhook configured (ALERTS_WEBHOOK_URLS): the alerts of %s are logged here", self.topic)
        for worker in self.workers:
            worker.start()

    def poll(self) -> list[Record]:
        self._hold_back()
        # alerts are few: a small poll; a short one while messages wait for their commit
        return self.reader.poll(20, 0.1 if self.in_flight() else 0.5)

    def tick(self) -> None:
        self._commit_finished()
        if self.alertmanager and self.clock() >= self._next_repost:
            self._repost()

    def _recover_open(self) -> None:
        """The episodes Alertmanager holds as firing: posted again from now on (and at once),
        so that a restart does not let them lapse at their endsAt."""
        try:
            firing = firing_in_alertmanager(self.alertmanager, self._am_token, self.settings.timeout_s)
        except (DeliveryError, ValueError, KeyError) as error:
            log.warning(
                "cannot ask Alertmanager for the open episodes (%s): they are posted again only when read "
                "again from the topic, else they resolve at their endsAt",
                error,
            )
            return
        for alert in firing:
            self._open.setdefault(alert["labels"]["episode_id"], alert)
        if firing:
            log.info(
                "%d open episodes in Alertmanager, posted again every %g s",
                len(firing),
                self.settings.alertmanager_repost_s,
            )
            self._repost()

    def _repost(self) -> None:
        """One POST of every open episode, with endsAt ALERTS_ALERTMANAGER_ENDS_AFTER_S from now,
        queued behind what the worker has (so never after a later `resolved`)."""
        self._next_repost = self.clock() + self.settings.alertmanager_repost_s
        if not self._open:
            return
        ends = _rfc3339(datetime.now(UTC) + timedelta(seconds=self.settings.alertmanager_ends_after_s))
        payload = orjson.dumps([{**alert, "endsAt": ends} for alert in self._open.values()])
        entry = InFlight(("", -1), -1, {"episode_id": f"{len(self._open)} open episodes", "state": "re-post"})
        entry.payload, entry.key, entry.repost = payload, "re-post", True
        entry.deadline, entry.waiting = self.clock() + self.settings.alertmanager_repost_s, {0}
        self.workers[0].submit(entry)

    def caught_up(self) -> bool:
        """Read to the end, and every message read finished."""
        return not self.in_flight() and super().caught_up()

    def finish(self) -> None:
        self._stop_workers()
        try:
            self._commit_finished()
        except (KafkaException, CommitRefused, Stopped) as error:  # the broker or the group is gone
            log.warning("cannot commit: %s", error)
        self.stats.in_flight = self.in_flight()
        if self.stats.in_flight:
            log.warning(
                "%d alerts not finished for every webhook: their offsets are not committed, a restart "
                "delivers them again",
                self.stats.in_flight,
            )

    def stats_line(self) -> str:
        self.stats.in_flight = self.in_flight()
        return self.stats.line()

    def in_flight(self) -> int:
        with self._lock:
            return sum(len(entries) for entries in self._pending.values())

    def take(self, record: Record) -> None:
        """Hands one record to every worker (finished at once when there is nothing to POST)."""
        entry = InFlight((record.topic, record.partition), record.offset)
        if record.value is None:
            self.stats.tombstones += 1
        else:
            try:
                entry.alert = parse_alert(record.value)
            except AlertError as error:
                with self.stats.lock:
                    self.stats.rejected += 1
                log.error("rejected %s: %s", record.where, error)
        if entry.alert is not None and self.alertmanager:
            firing = self._open.get(entry.alert["episode_id"], {}).get("labels")
            alert = alertmanager_alert(entry.alert, datetime.now(UTC), self.settings.alertmanager_ends_after_s, firing)
            if entry.alert["state"] == "raised":
                self._open[entry.alert["episode_id"]] = {k: alert[k] for k in ("labels", "annotations", "startsAt")}
            else:
                self._open.pop(entry.alert["episode_id"], None)
            entry.payload, entry.key = orjson.dumps([alert]), idempotency_key(entry.alert)
        elif entry.alert is not None and self.workers:
            entry.payload, entry.key = body(entry.alert), idempotency_key(entry.alert)
        if entry.alert is not None and self.workers:
            entry.deadline = self.clock() + self.settings.delivery_max_seconds
            entry.waiting = set(range(len(self.workers)))
        with self._lock:
            self._pending.setdefault(entry.partition, deque()).append(entry)
        if entry.alert is not None and not self.workers:
            log.log(
                logging.WARNING if entry.alert["state"] == "raised" else logging.INFO, "ALERT %s", summary(entry.alert)
            )
            self.stats.logged += 1
            self._finished(entry)
        for worker in self.workers if entry.waiting else ():
            worker.submit(entry)

    def _done(self, entry: InFlight, index: int) -> None:
        """A worker finished `entry` (delivered or recorded as failed)."""
        if entry.repost:
            return
        with self._lock:
            entry.waiting.discard(index)
            if entry.waiting or entry.cancelled:
                return
        self._finished(entry)

    def _finished(self, entry: InFlight) -> None:
        with self.stats.lock:
            self.stats.alerts += 1
            self.stats.alerts_per_state[entry.alert["state"]] += 1
            self.stats.last_alert_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _commit_finished(self) -> None:
        """Commits, per partition, past the longest run of finished records at its head."""
        offsets: dict[Partition, int] = {}
        with self._lock:
            first = {partition: entries[0].offset for partition, entries in self._pending.items() if entries}
            for partition, entries in self._pending.items():
                while entries and not entries[0].waiting:
                    offsets[partition] = entries.popleft().offset + 1
        if not offsets:
            return
        try:
            self._commit(offsets)
        except CommitRefused as error:
            # the group rebalanced under this consumer: every partition still assigned is read
            # again from its first record not committed, and what is queued for it is dropped
            self.stats.failed_commits += 1
            log.warning("offset commit failed, the group rebalanced; uncommitted alerts are read again: %s", error)
            self._cancel(list(first))
            for partition, offset in first.items():
                self.reader.rewind(partition, offset)

    def _cancel(self, partitions: list[Partition]) -> None:
        """Drops what is pending for `partitions` (their records are read again, here or by
        another dispatcher): the workers skip it."""
        with self._lock:
            for partition in partitions:
                for entry in self._pending.pop(partition, ()):
                    entry.cancelled = True

    def _commit(self, offsets: dict[Partition, int]) -> None:
        """While the broker is away, retried with the webhook backoff."""

        def failed(error: BaseException, delay: float) -> None:
            self.stats.failed_commits += 1
            log.warning("offset commit failed (retrying in %.2f s): %s", delay, error)

        retry(
            lambda: self.reader.commit(offsets),
            CommitRetriable,
            self.backoff,
            self.stop,
            failed,
            lambda: "stopped before the offset of a delivered alert was committed",
        )
        self.stats.commits += 1

    def _hold_back(self) -> None:
        """Pauses the assigned partitions while MAX_IN_FLIGHT messages wait to be finished (the
        consumer still polls, so it stays in its group), resumes them below."""
        full = self.in_flight() >= MAX_IN_FLIGHT
        if full or self._paused:
            partitions = [TopicPartition(topic, partition) for topic, partition in self.reader.assignment()]
            (self.reader.consumer.pause if full else self.reader.consumer.resume)(partitions)
            self._paused = full

    def _stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()
        deadline = time.monotonic() + self.settings.timeout_s + 1  # an attempt under way ends by then
        for worker in self.workers:
            worker.thread.join(max(0.0, deadline - time.monotonic()))

    def _commit_before_revoke(self, revoked: list[Partition]) -> None:
        """Before partitions move to another dispatcher (or are read again), commit what is
        finished, and drop what is not: their next reader delivers it."""
        try:
            self._commit_finished()
        except (KafkaException, CommitRefused, Stopped) as error:
            log.warning("cannot commit before the rebalance: %s", error)
        self._cancel(revoked)
