"""The alert dispatcher on the real broker, POSTing to real HTTP servers that the tests start on
127.0.0.1 (http.server in a thread, on a free port) and that record every request: raised and
resolved alerts arrive with their JSON and headers at every webhook; 503s and a refused
connection are retried until the alert is delivered, once and in order; a restart of the same
group sends nothing again; SIGTERM ends a retry at once without committing, and the console
mode (no webhook) then logs that alert. Each webhook on its own: one answering 404 is recorded
failed at once (logged by its place, never its URL) while a healthy one gets every alert within
30 s of it being raised; a dead one is retried for ALERTS_DELIVERY_MAX_SECONDS, then recorded
failed and committed past.

Each test has topics and consumer groups of its own; every server, thread and process it
starts is stopped in `finally` (or the receiver's `with`)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import orjson
from confluent_kafka import Producer

from connectors.alerts.dispatcher import Dispatcher, DispatcherStats
from connectors.alerts.settings import AlertSettings
from connectors.kafka.topics import TopicSpec, ensure_topics
from tests.integration.connectors.webhooks import Receiver, Request, free_port

CROSSINGS_BIN = Path(sys.executable).parent / "crossings"
REPO = Path(__file__).resolve().parents[3]
FAST = dict(backoff_initial_ms=50, backoff_max_ms=300, timeout_s=2.0)


def alert_pair(port_code: str = "HUANGGANG") -> list[dict]:
    episode = str(uuid.uuid4())
    raised = {
        "episode_id": episode,
        "state": "raised",
        "severity": "critical",
        "port_code": port_code,
        "kind": "traveller",
        "direction": "entry",
        "started_at": "2024-05-01T08:00:00Z",
        "ended_at": None,
        "peak_p90_s": 950.0,
        "threshold_s": 300,
    }
    return [raised, {**raised, "state": "resolved", "ended_at": "2024-05-01T08:20:00Z", "peak_p90_s": 990.0}]


def produce_alerts(
    bootstrap: str,
    topic: str,
    alerts: list[dict],
    partitions: int = 1,
    extra: list[tuple[bytes | None, bytes | None]] = (),
) -> None:
    ensure_topics(bootstrap, [TopicSpec(topic, partitions=partitions)])
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for alert in alerts:  # as the job writes them: key = episode_id, value = the JSON message
        producer.produce(topic, orjson.dumps(alert), alert["episode_id"].encode())
    for key, value in extra:
        producer.produce(topic, value, key)
    assert producer.flush(30) == 0


def dispatch(bootstrap: str, topic: str, group: str, urls: list[str], **settings: object) -> DispatcherStats:
    alert_settings = AlertSettings(_env_file=None, webhook_urls=urls, group_id=group, **{**FAST, **settings})
    return Dispatcher(bootstrap, alert_settings, topic=topic).run(once=True)


def keys(requests: list[Request]) -> list[str]:
    return [request.headers["Idempotency-Key"] for request in requests]


def test_raised_and_resolved_alerts_reach_every_webhook_and_a_restart_sends_nothing_again(kafka_broker):
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    topic, group = f"alerts-{tag}", f"alerts-{tag}"
    alerts = [*alert_pair("LUOHU"), *alert_pair("SHENZHEN_BAY"), *alert_pair("HUANGGANG")]
    produce_alerts(bootstrap, topic, alerts, partitions=2, extra=[(b"not-an-alert", b"{not json"), (b"gone", None)])
    with Receiver() as first, Receiver() as second:
        urls = [first.url("/hooks/ops?channel=duty"), second.url()]
        stats = dispatch(bootstrap, topic, group, urls, webhook_token="t0ken")

        assert (stats.alerts, stats.posts, stats.failed_posts, stats.rejected, stats.tombstones, stats.total_lag) == (
            6,
            12,
            0,
            1,
            1,
            0,
        )
        assert stats.alerts_per_state == {"raised": 3, "resolved": 3}
        expected = {f"{alert['episode_id']}:{alert['state']}": alert for alert in alerts}
        for receiver in (first, second):
            assert sorted(keys(receiver.requests)) == sorted(expected)  # each alert exactly once
            for request in receiver.requests:
                alert = expected[request.headers["Idempotency-Key"]]
                assert request.headers["Content-Type"] == "application/json"
                assert request.headers["Authorization"] == "Bearer t0ken"
                summary = request.body.pop("summary")
                assert request.body == {**alert, "idempotency_key": request.headers["Idempotency-Key"]}
                assert summary.startswith(f"CRITICAL {alert['state']}: traveller entry clearance at ")
            for episode in {alert["episode_id"] for alert in alerts}:  # an episode's messages in order
                assert [k for k in keys(receiver.requests) if k.startswith(episode)] == [
                    f"{episode}:raised",
                    f"{episode}:resolved",
                ]
            # one connection for the run: keep-alive, not one per record
            assert len({request.client_port for request in receiver.requests}) == 1
        assert first.requests[0].path == "/hooks/ops?channel=duty"

        again = dispatch(bootstrap, topic, group, urls, webhook_token="t0ken")  # a restart, same group

        assert (again.alerts, again.posts, again.rejected, again.total_lag) == (0, 0, 0, 0)
        assert len(first.requests) == len(second.requests) == 6 and first.attempts == second.attempts == 6


def test_503s_are_retried_and_each_alert_is_delivered_once_in_order(kafka_broker):
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    topic = f"alerts-503-{tag}"
    alerts = [*alert_pair(), *alert_pair(), *alert_pair()]
    produce_alerts(bootstrap, topic, alerts)
    with Receiver(failures=4) as busy, Receiver() as healthy:
        stats = dispatch(bootstrap, topic, f"alerts-503-{tag}", [busy.url(), healthy.url()])

        order = [f"{alert['episode_id']}:{alert['state']}" for alert in alerts]
        assert keys(busy.requests) == keys(healthy.requests) == order  # once each, in the topic's order
        assert busy.attempts == len(alerts) + 4 == stats.failed_posts + len(alerts)
        assert healthy.attempts == len(alerts)  # not posted again while the other webhook failed
        assert (stats.alerts, stats.posts, stats.total_lag) == (len(alerts), 2 * len(alerts), 0)


def test_a_webhook_that_refuses_connections_gets_every_alert_once_it_is_up(kafka_broker):
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    topic = f"alerts-down-{tag}"
    alerts = [*alert_pair(), *alert_pair()]
    produce_alerts(bootstrap, topic, alerts)
    port = free_port()  # nothing listens there yet: connection refused
    settings = AlertSettings(
        _env_file=None, webhook_urls=[f"http://127.0.0.1:{port}/hook"], group_id=f"alerts-down-{tag}", **FAST
    )
    stop = threading.Event()
    dispatcher = Dispatcher(bootstrap, settings, topic=topic, stop=stop)
    result: list[DispatcherStats] = []
    worker = threading.Thread(target=lambda: result.append(dispatcher.run(once=True)), daemon=True)
    worker.start()
    try:
        deadline = threading.Event()
        for _ in range(200):  # the first POST fails a few times
            if dispatcher.stats.failed_posts >= 3:
                break
            deadline.wait(0.05)
        assert dispatcher.stats.failed_posts >= 3 and dispatcher.stats.posts == 0
        with Receiver(port=port) as receiver:
            worker.join(20)
            assert not worker.is_alive()
        assert keys(receiver.requests) == [f"{alert['episode_id']}:{alert['state']}" for alert in alerts]
        assert receiver.attempts == len(alerts)
        assert (result[0].alerts, result[0].total_lag) == (len(alerts), 0)
    finally:
        stop.set()
        worker.join(10)


def test_sigterm_stops_a_retry_without_commit_and_the_console_mode_then_logs_the_alerts(kafka_broker, tmp_path):
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    topic, group = f"alerts-term-{tag}", f"alerts-term-{tag}"
    alerts = alert_pair("LUOHU")
    produce_alerts(bootstrap, topic, alerts)
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "PYTHONPATH": str(REPO),
        "ALERTS_WEBHOOK_URLS": f"http://127.0.0.1:{free_port()}/hook",
        "ALERTS_WEBHOOK_TOKEN": "t0ken",
        "ALERTS_BACKOFF_INITIAL_MS": "100",
        "ALERTS_BACKOFF_MAX_MS": "300",
        "ALERTS_GROUP_ID": group,
    }
    command = [str(CROSSINGS_BIN), "alerts", "dispatch", "--json", "--topic", topic]
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    retrying = threading.Event()
    log_lines: list[str] = []

    def watch() -> None:
        for line in process.stderr:
            log_lines.append(line)
            if "not accepted (retrying" in line:
                retrying.set()

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        assert retrying.wait(30), "".join(log_lines[-20:])
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)  # stderr is the watcher's to read; stdout is one short JSON line
        out = process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        watcher.join(5)
        process.stdout.close()
    err = "".join(log_lines)
    assert process.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM" in err, err[-2000:]
    assert json.loads(out)["alerts"] == 0 and "not committed" in err and "t0ken" not in err

    console = subprocess.run(
        [*command, "--once"],
        env={**env, "ALERTS_WEBHOOK_URLS": ""},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert console.returncode == 0, console.stderr[-2000:]
    stats = json.loads(console.stdout)
    assert (stats["alerts"], stats["logged"], stats["posts"], stats["total_lag"]) == (2, 2, 0, 0)
    assert "ALERT CRITICAL raised: traveller entry clearance at Luohu Port is slow" in console.stderr
    assert "ALERT CRITICAL resolved: traveller entry clearance at Luohu Port is back under" in console.stderr


def wait_for(condition, timeout_s: float, step_s: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step_s)
    return True


def test_a_webhook_answering_404_is_recorded_failed_at_once_and_never_delays_a_healthy_one(kafka_broker, caplog):
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    topic, group = f"alerts-404-{tag}", f"alerts-404-{tag}"
    ensure_topics(bootstrap, [TopicSpec(topic, partitions=2)])
    caplog.set_level(logging.INFO, logger="connectors.alerts.dispatcher")
    with Receiver(then=404) as gone, Receiver() as healthy:
        # the 404 webhook comes first, and its URL carries a secret that no log line may show
        urls = [gone.url("/hooks/s3cret-path?token=abc123"), healthy.url()]
        settings = AlertSettings(_env_file=None, webhook_urls=urls, group_id=group, **FAST)
        stop = threading.Event()
        dispatcher = Dispatcher(bootstrap, settings, topic=topic, stop=stop)
        worker = threading.Thread(target=dispatcher.run, daemon=True)
        worker.start()
        raised_at: dict[str, float] = {}
        try:
            for port_code in ("LUOHU", "SHENZHEN_BAY", "HUANGGANG"):  # raised one pair after another
                pair = alert_pair(port_code)
                produce_alerts(bootstrap, topic, pair, partitions=2)
                raised_at.update({f"{alert['episode_id']}:{alert['state']}": time.monotonic() for alert in pair})
                assert wait_for(lambda: set(healthy.keys()) >= set(raised_at), 30), (
                    f"the healthy webhook has {len(healthy.keys())} of {len(raised_at)} alerts after 30 s"
                )
            assert wait_for(lambda: dispatcher.stats.alerts == len(raised_at) and not dispatcher.in_flight(), 30)
        finally:
            stop.set()
            worker.join(15)
        assert not worker.is_alive()
        stats = dispatcher.stats

        assert sorted(healthy.keys()) == sorted(raised_at)  # each once
        for request in healthy.requests:
            assert request.received_at - raised_at[request.headers["Idempotency-Key"]] <= 30
        assert gone.attempts == len(raised_at) and gone.statuses == [404] * len(raised_at)  # never retried
        assert (stats.alerts, stats.posts, stats.failed_posts, stats.failed_deliveries) == (6, 6, 6, 6)
        assert stats.failed_per_webhook == {"webhook 1": 6} and stats.as_dict()["failed_per_webhook"] == {
            "webhook 1": 6
        }
        failures = [record.getMessage() for record in caplog.records if "delivery failed" in record.getMessage()]
        for key in raised_at:  # each failure logged with its episode and the webhook's place
            episode, state = key.split(":")
            assert any(f"episode {episode} {state} to webhook 1: HTTP 404" in line for line in failures), failures
        logged = caplog.text
        assert "s3cret" not in logged and "abc123" not in logged and str(gone.port) not in logged

        again = dispatch(bootstrap, topic, group, urls)  # a restart: the failures were committed past

        assert (again.alerts, again.posts, again.failed_posts, again.total_lag) == (0, 0, 0, 0)
        assert gone.attempts == healthy.attempts == len(raised_at)


def test_a_dead_webhook_is_retried_for_the_bounded_time_while_a_healthy_one_gets_every_alert(kafka_broker):
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    topic, group = f"alerts-dead-{tag}", f"alerts-dead-{tag}"
    alerts = [*alert_pair(), *alert_pair()]
    produce_alerts(bootstrap, topic, alerts)
    dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there: connection refused
    with Receiver() as healthy:
        settings = AlertSettings(
            _env_file=None, webhook_urls=[dead, healthy.url()], group_id=group, **{**FAST, "delivery_max_seconds": 8}
        )
        dispatcher = Dispatcher(bootstrap, settings, topic=topic)
        result: list[DispatcherStats] = []
        started = time.monotonic()
        worker = threading.Thread(target=lambda: result.append(dispatcher.run(once=True)), daemon=True)
        worker.start()
        try:
            assert wait_for(lambda: len(healthy.requests) == len(alerts), 30)
            # the healthy webhook had everything while the dead one was still being retried
            assert dispatcher.stats.failed_deliveries == 0 and dispatcher.stats.failed_posts >= 1
            worker.join(60)
            assert not worker.is_alive()
        finally:
            dispatcher.stop.set()
            worker.join(10)
        took = time.monotonic() - started
        stats = result[0]

        assert healthy.keys() == [f"{alert['episode_id']}:{alert['state']}" for alert in alerts]
        assert 8 <= took < 30
        assert (stats.alerts, stats.posts, stats.failed_deliveries, stats.in_flight, stats.total_lag) == (4, 4, 4, 0, 0)
        assert stats.failed_per_webhook == {"webhook 1": 4} and stats.failed_posts > 4  # the first was retried

        again = dispatch(bootstrap, topic, group, [dead, healthy.url()])

        assert (again.alerts, again.posts, again.failed_posts) == (0, 0, 0)
