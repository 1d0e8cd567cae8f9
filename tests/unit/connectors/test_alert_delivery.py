"""The delivery to each webhook on its own (connectors/alerts/dispatcher.py), over real HTTP to
local servers (http.server in a thread): which answers are retried and which are failed
deliveries at once, the backoff with jitter and its bound (a fake clock: the waits are not
slept), what is logged of a failure (the episode and the webhook's place, never its URL), and
what the consumer commits while one webhook is dead and another healthy (a fake reader in
place of Kafka, real worker threads)."""

from __future__ import annotations

import logging
import threading
import time
import uuid

import orjson
import pytest

from connectors.alerts.dispatcher import (
    Dispatcher,
    DispatcherStats,
    InFlight,
    Webhook,
    WebhookWorker,
    body,
    idempotency_key,
    retried,
)
from connectors.alerts.settings import AlertSettings
from connectors.kafka.consumer import CommitRefused, Record
from connectors.retry import Stopped
from tests.integration.connectors.webhooks import Receiver, free_port

from .test_alert_messages import RAISED

SECRET_PATH = "/hooks/s3cret-path?token=abc123"


class FakeClock:
    """`clock()` and `wait(delay)`: a wait moves the clock instead of sleeping; `stop_after`
    waits, the next one says a stop cut it short."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.now, self.waits, self.stop_after = 1000.0, [], stop_after

    def __call__(self) -> float:
        return self.now

    def wait(self, delay: float) -> bool:
        if self.stop_after is not None and len(self.waits) >= self.stop_after:
            return True
        self.waits.append(round(delay, 6))
        self.now += delay
        return False


def worker_for(url: str, clock: FakeClock, jitter: float = 1.0, number: int = 2, **settings: object) -> WebhookWorker:
    alert_settings = AlertSettings(
        _env_file=None, **{"backoff_initial_ms": 1000, "backoff_max_ms": 4000, "timeout_s": 2.0, **settings}
    )
    webhook = Webhook(url, "t0ken", alert_settings.timeout_s, f"webhook {number}")
    return WebhookWorker(
        number - 1, webhook, alert_settings, DispatcherStats(), clock=clock, wait=clock.wait, jitter=lambda: jitter
    )


def message(clock: FakeClock, max_seconds: float = 10.0, alert: dict = RAISED) -> InFlight:
    return InFlight(("alerts", 0), 7, alert, body(alert), idempotency_key(alert), clock() + max_seconds, {1})


@pytest.mark.parametrize(
    ("status", "again"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (410, False),
        (422, False),
        (451, False),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (302, True),
        (100, True),
    ],
)
def test_only_4xx_other_than_408_and_429_are_not_retried(status, again):
    assert retried(status) is again


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_a_4xx_answer_is_a_failed_delivery_at_once_logged_with_the_episode_and_the_webhook(status, caplog):
    clock = FakeClock()
    with Receiver(then=status) as receiver:
        worker = worker_for(receiver.url(SECRET_PATH), clock)
        with caplog.at_level(logging.INFO, logger="connectors.alerts.dispatcher"):
            assert worker.deliver(message(clock)) is False
        worker.webhook.close()

    assert receiver.attempts == 1 and clock.waits == []  # not retried
    stats = worker.stats
    assert (stats.posts, stats.failed_posts, stats.failed_deliveries) == (0, 1, 1)
    assert stats.failed_per_webhook == {"webhook 2": 1}
    assert f"delivery failed: episode {RAISED['episode_id']} raised to webhook 2: HTTP {status}" in caplog.text
    assert "not retried" in caplog.text
    for secret in ("s3cret", "abc123", "t0ken", "127.0.0.1", str(receiver.port)):
        assert secret not in caplog.text


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
def test_5xx_408_and_429_are_retried_with_doubling_jittered_waits_until_accepted(status):
    clock = FakeClock()
    with Receiver(answers=[status] * 3) as receiver:
        worker = worker_for(receiver.url(), clock, jitter=0.5)
        assert worker.deliver(message(clock)) is True
        worker.webhook.close()

    assert receiver.statuses == [status, status, status, 200] and receiver.keys() == [f"{RAISED['episode_id']}:raised"]
    assert clock.waits == [0.75, 1.5, 3.0]  # 1, 2, 4 s, each at 3/4 with this jitter (1/2 to 1 of it)
    assert (worker.stats.posts, worker.stats.failed_posts, worker.stats.failed_deliveries) == (1, 3, 0)


def test_the_jitter_spreads_each_wait_over_half_to_all_of_its_step():
    for jitter, waits in ((0.0, [0.5, 1.0, 2.0]), (1.0, [1.0, 2.0, 4.0])):
        clock = FakeClock()
        with Receiver(answers=[503] * 3) as receiver:
            worker = worker_for(receiver.url(), clock, jitter=jitter)
            assert worker.deliver(message(clock)) is True
            worker.webhook.close()
        assert clock.waits == waits


def test_a_retry_after_longer_than_the_backoff_is_honoured():
    clock = FakeClock()
    with Receiver(answers=[429], retry_after="3") as receiver:
        worker = worker_for(receiver.url(), clock)
        assert worker.deliver(message(clock)) is True
        worker.webhook.close()
    assert clock.waits == [3.0] and receiver.attempts == 2


def test_a_dead_webhook_is_retried_until_the_bound_then_recorded_failed(caplog):
    clock = FakeClock()
    worker = worker_for(f"http://127.0.0.1:{free_port()}{SECRET_PATH}", clock)  # connection refused
    with caplog.at_level(logging.INFO, logger="connectors.alerts.dispatcher"):
        assert worker.deliver(message(clock, max_seconds=10)) is False

    assert clock.waits == [1.0, 2.0, 4.0, 3.0]  # the last wait ends at the bound: 10 s in all
    stats = worker.stats
    assert (stats.posts, stats.failed_posts, stats.failed_deliveries) == (0, 5, 1)
    assert "gave up after 5 attempts in 10.0 s" in caplog.text and "ConnectionRefusedError" in caplog.text
    assert caplog.text.count("not accepted (retrying in") == 4
    assert "s3cret" not in caplog.text and "abc123" not in caplog.text and "127.0.0.1" not in caplog.text


def test_a_timeout_is_retried():
    clock = FakeClock()
    with Receiver(slow=1, slow_s=1.0) as receiver:
        worker = worker_for(receiver.url(), clock, timeout_s=0.2)
        assert worker.deliver(message(clock)) is True
        worker.webhook.close()
    assert receiver.attempts == 2 and len(clock.waits) == 1 and worker.stats.failed_posts == 1


def test_a_message_past_its_bound_still_gets_one_attempt():
    # it waited that long behind another in the queue of a webhook that was down: one try
    clock = FakeClock()
    with Receiver(answers=[503]) as down, Receiver() as back:
        worker = worker_for(down.url(), clock)
        assert worker.deliver(message(clock, max_seconds=-1)) is False
        worker.webhook.close()
        worker = worker_for(back.url(), clock)
        assert worker.deliver(message(clock, max_seconds=-1)) is True
        worker.webhook.close()
    assert down.attempts == back.attempts == 1 and clock.waits == []


def test_a_stop_cuts_a_retry_short():
    clock = FakeClock(stop_after=1)
    with Receiver(failures=10) as receiver:
        worker = worker_for(receiver.url(), clock)
        with pytest.raises(Stopped, match="stopped before webhook 2 accepted alert"):
            worker.deliver(message(clock))
        worker.webhook.close()
    assert receiver.attempts == 2 and worker.stats.failed_deliveries == 0


class FakeReader:
    """Kafka in place: `batches` are what the polls return, in turn; then nothing, at the end."""

    def __init__(self, batches: list[list[Record]], fail_commit: int | None = None) -> None:
        self.batches, self.fail_commit = list(batches), fail_commit
        self.commits: list[dict] = []
        self.rewinds: dict = {}
        self.lock = threading.Lock()

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        if self.batches:
            return self.batches.pop(0)
        time.sleep(min(timeout_s, 0.02))
        return []

    def commit(self, offsets: dict) -> None:
        if self.fail_commit == len(self.commits) + 1:
            self.fail_commit = None
            raise CommitRefused("rebalanced")
        with self.lock:
            self.commits.append(dict(offsets))

    def committed(self) -> dict:
        with self.lock:
            return {partition: offset for commit in self.commits for partition, offset in commit.items()}

    def rewind(self, partition: tuple[str, int], offset: int) -> None:
        self.rewinds[partition] = offset

    def assignment(self) -> list[tuple[str, int]]:
        return [("alerts", 0), ("alerts", 1)]

    def at_end(self) -> bool:
        return not self.batches

    def lag(self) -> dict[str, int]:
        return {"alerts": 0}

    def close(self) -> None:
        pass


def records(partition: int, first: int, *values: bytes | None) -> list[Record]:
    return [Record("alerts", partition, offset, value) for offset, value in enumerate(values, first)]


def alerts(count: int) -> list[bytes]:
    return [
        orjson.dumps({**RAISED, "episode_id": str(uuid.UUID(int=number + 1)), "state": state})
        for number in range(count // 2)
        for state in ("raised", "resolved")
    ]


def dispatcher_for(
    urls: list[str], reader: FakeReader, stop: threading.Event | None = None, **settings: object
) -> Dispatcher:
    alert_settings = AlertSettings(
        _env_file=None,
        webhook_urls=urls,
        **{"backoff_initial_ms": 20, "backoff_max_ms": 50, "timeout_s": 2.0, **settings},
    )
    return Dispatcher("unused:9092", alert_settings, topic="alerts", stop=stop, reader=reader)


def test_a_dead_webhook_delays_no_other_and_the_offsets_wait_for_its_recorded_failures():
    values = alerts(4)
    reader = FakeReader([records(0, 0, *values[:2]), records(1, 0, *values[2:], None)])
    with Receiver(then=503) as dead, Receiver() as healthy:
        dispatcher = dispatcher_for([dead.url(), healthy.url()], reader, delivery_max_seconds=3)
        started = time.monotonic()
        result: list[DispatcherStats] = []
        thread = threading.Thread(target=lambda: result.append(dispatcher.run(once=True)), daemon=True)
        thread.start()
        try:
            while len(healthy.requests) < 4 and time.monotonic() - started < 10:
                time.sleep(0.01)
            healthy_took = time.monotonic() - started
            committed_meanwhile, failed_meanwhile = reader.committed(), dispatcher.stats.failed_deliveries
            thread.join(20)
        finally:
            dispatcher.stop.set()
            thread.join(5)

    assert sorted(healthy.keys()) == sorted(
        f"{orjson.loads(v)['episode_id']}:{orjson.loads(v)['state']}" for v in values
    )
    # the healthy webhook had every alert while the dead one was still being retried, and
    # nothing the dead one had not finished was committed meanwhile
    assert healthy_took < 3 and failed_meanwhile == 0 and committed_meanwhile == {}
    stats = result[0]
    assert reader.committed() == {("alerts", 0): 2, ("alerts", 1): 3}
    assert (stats.alerts, stats.posts, stats.failed_deliveries, stats.tombstones, stats.in_flight) == (4, 4, 4, 1, 0)
    assert stats.failed_per_webhook == {"webhook 1": 4}
    # the first message was retried up to the bound; the others, past it by then, got one try each
    assert dead.attempts == stats.failed_posts >= 4 + 3 and time.monotonic() - started >= 3


def test_a_stop_commits_only_what_every_webhook_finished_so_a_restart_delivers_the_rest(caplog):
    values = alerts(2)
    reader = FakeReader([records(0, 0, None, *values), records(1, 0, None)])
    stop = threading.Event()
    with Receiver(then=503) as down, Receiver() as healthy:
        dispatcher = dispatcher_for([down.url(), healthy.url()], reader, stop)
        thread = threading.Thread(target=dispatcher.run, daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while (len(healthy.requests) < 2 or down.attempts < 3) and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            stop.set()
            thread.join(10)

    assert not thread.is_alive() and len(healthy.requests) == 2
    # past the tombstones only: both alerts are read again after a restart, for both webhooks
    assert reader.committed() == {("alerts", 0): 1, ("alerts", 1): 1}
    assert (dispatcher.stats.alerts, dispatcher.stats.in_flight, dispatcher.stats.failed_deliveries) == (0, 2, 0)
    assert "2 alerts not finished for every webhook: their offsets are not committed" in caplog.text


def test_a_refused_commit_rewinds_every_partition_to_its_first_record_not_committed():
    # a partition that stays assigned through the rebalance would read on after what was
    # polled, which is dropped from the queues: without the rewind those records would be skipped
    reader = FakeReader([], fail_commit=1)
    dispatcher = dispatcher_for([], reader)  # console mode: each alert is finished once read
    for record in [*records(0, 10, alerts(2)[0], None, alerts(2)[1]), *records(1, 5, *alerts(2))]:
        dispatcher.take(record)

    dispatcher._commit_finished()

    assert reader.commits == [] and reader.rewinds == {("alerts", 0): 10, ("alerts", 1): 5}
    assert dispatcher.stats.failed_commits == 1 and dispatcher.in_flight() == 0

    dispatcher.take(records(0, 10, alerts(2)[0])[0])  # read again
    dispatcher._commit_finished()
    assert reader.commits == [{("alerts", 0): 11}]


def test_a_revoked_partition_drops_what_its_webhooks_have_not_finished():
    reader = FakeReader([])
    first, second = alerts(4)[0], alerts(4)[2]
    with Receiver() as healthy:
        dispatcher = dispatcher_for([healthy.url()], reader)  # its worker not started yet
        for record in [*records(0, 0, first), *records(1, 0, second)]:
            dispatcher.take(record)
        dispatcher._commit_before_revoke([("alerts", 0)])  # partition 0 goes to another dispatcher
        assert dispatcher.in_flight() == 1

        worker = dispatcher.workers[0]
        worker.start()
        try:
            deadline = time.monotonic() + 10
            while dispatcher.in_flight() and time.monotonic() < deadline:
                dispatcher._commit_finished()
                time.sleep(0.01)
        finally:
            worker.stop()
            worker.thread.join(5)

    assert healthy.keys() == [f"{orjson.loads(second)['episode_id']}:raised"]  # the revoked one skipped
    assert reader.commits == [{("alerts", 1): 1}] and dispatcher.stats.alerts == 1


def test_the_partitions_pause_while_too_many_messages_wait_and_resume_below(monkeypatch):
    class Consumer:
        def __init__(self) -> None:
            self.calls: list[tuple[str, int]] = []

        def pause(self, partitions: list) -> None:
            self.calls.append(("pause", len(partitions)))

        def resume(self, partitions: list) -> None:
            self.calls.append(("resume", len(partitions)))

    monkeypatch.setattr("connectors.alerts.dispatcher.MAX_IN_FLIGHT", 2)
    reader = FakeReader([])
    reader.consumer = Consumer()
    with Receiver() as healthy:
        dispatcher = dispatcher_for([healthy.url()], reader)  # its worker not started: nothing finishes
        dispatcher.take(records(0, 0, alerts(2)[0])[0])
        dispatcher._hold_back()
        assert reader.consumer.calls == []
        dispatcher.take(records(0, 1, alerts(2)[1])[0])
        dispatcher._hold_back()
        dispatcher._hold_back()
        assert reader.consumer.calls == [("pause", 2), ("pause", 2)]  # again: a rebalance may add partitions
        dispatcher._cancel([("alerts", 0)])
        dispatcher._hold_back()
        dispatcher._hold_back()
    assert reader.consumer.calls[2:] == [("resume", 2)]
