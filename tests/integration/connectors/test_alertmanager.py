"""The alert dispatcher posting to a real Alertmanager (the session's `alertmanager` fixture:
Debian's prometheus-alertmanager, notifying a webhook receiver of the test's own).

The episode is the surge of tests/unit/pipeline/transforms/test_alerts.py (three slides above
Luohu's traveller threshold, peak 1.6 times it, five below), as the job writes its two messages
to the alerts topic. It appears in `GET /api/v2/alerts` with its labels and annotations, stays
firing past its first endsAt because the dispatcher posts it again, and Alertmanager's webhook
gets it exactly once firing and once resolved. A silence of the port keeps its notification
back, and it comes once the silence is expired. A restarted dispatcher finds the open episode
in Alertmanager and keeps posting it.

Each test has topics, groups, episodes and a port of its own (the Alertmanager is shared)."""

from __future__ import annotations

import threading
import time
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta

from connectors.alerts.dispatcher import Dispatcher
from connectors.alerts.settings import AlertSettings
from pipeline.commands.status import OPEN_SPIKES
from schemas.ports import load_ports
from tests.integration.connectors.test_alert_dispatcher import produce_alerts, wait_for

# posted again every second, each time ending 4 s ahead: Alertmanager would resolve it by
# itself 4 s after a post the dispatcher failed to repeat
FAST = dict(backoff_initial_ms=50, backoff_max_ms=300, timeout_s=2.0)
REPOST = dict(alertmanager_repost_s=1.0, alertmanager_ends_after_s=4.0)


def surge(port_code: str, kind: str = "traveller") -> list[dict]:
    """The raised and resolved messages of the unit tests' surge episode at `port_code`."""
    threshold = load_ports().get(port_code).clearance_threshold_s[kind]
    raised = {
        "episode_id": str(uuid.uuid4()),
        "state": "raised",
        "severity": "warning",
        "port_code": port_code,
        "kind": kind,
        "direction": "entry",
        "started_at": "2024-05-01T08:01:00Z",
        "ended_at": None,
        "peak_p90_s": 1.5 * threshold,
        "threshold_s": threshold,
    }
    resolved = {**raised, "state": "resolved", "ended_at": "2024-05-01T08:06:00Z", "peak_p90_s": 1.6 * threshold}
    return [raised, resolved]


class Running:
    """A dispatcher to `alertmanager` in a thread, stopped on the way out."""

    def __init__(self, bootstrap: str, topic: str, group: str, alertmanager_url: str) -> None:
        settings = AlertSettings(_env_file=None, alertmanager_url=alertmanager_url, group_id=group, **FAST, **REPOST)
        self.dispatcher = Dispatcher(bootstrap, settings, topic=topic, stats_interval_s=60)
        self.thread = threading.Thread(target=self.dispatcher.run, daemon=True)

    def __enter__(self) -> Dispatcher:
        self.thread.start()
        return self.dispatcher

    def __exit__(self, *exc: object) -> None:
        self.dispatcher.stop.set()
        self.thread.join(15)
        assert not self.thread.is_alive()


def in_alertmanager(alertmanager, episode: str) -> list[dict]:
    return [alert for alert in alertmanager.request("/api/v2/alerts") if alert["labels"].get("episode_id") == episode]


def notified(alertmanager, episode: str) -> list[str]:
    """The state of `episode` in each notification Alertmanager's webhook received, in order."""
    with alertmanager.receiver.lock:
        bodies = [request.body for request in alertmanager.receiver.requests]
    return [
        alert["status"] for body in bodies for alert in body["alerts"] if alert["labels"].get("episode_id") == episode
    ]


def test_an_episode_is_one_alert_notified_once_firing_and_once_resolved(kafka_broker, alertmanager):
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    topic = f"am-{tag}"
    raised, resolved = surge("LUOHU")
    episode = raised["episode_id"]
    produce_alerts(bootstrap, topic, [raised])
    with Running(bootstrap, topic, f"am-{tag}", alertmanager.url) as dispatcher:
        assert wait_for(lambda: notified(alertmanager, episode) == ["firing"], 20), notified(alertmanager, episode)
        [alert] = in_alertmanager(alertmanager, episode)
        assert alert["labels"] == {
            "alertname": "ClearanceSpike",
            "port": "LUOHU",
            "kind": "traveller",
            "direction": "entry",
            "severity": "warning",
            "episode_id": episode,
        }
        annotations = alert["annotations"]
        assert (annotations["started_at"], annotations["ended_at"]) == ("2024-05-01T08:01:00Z", "")
        assert float(annotations["peak_p90_s"]) == raised["peak_p90_s"]
        assert int(annotations["threshold_s"]) == raised["threshold_s"]
        assert annotations["summary"].startswith("WARNING raised: traveller entry clearance at Luohu")
        assert alert["startsAt"].startswith("2024-05-01T08:01:00") and alert["status"]["state"] == "active"

        # past its first endsAt (4 s) it is still firing: the dispatcher posted it again, and a
        # post again is not a new notification (group_interval is 1 s here)
        first_end = alert["endsAt"]
        time.sleep(6)
        [alert] = in_alertmanager(alertmanager, episode)
        assert alert["status"]["state"] == "active" and alert["endsAt"] > first_end
        assert dispatcher.stats.reposts >= 3
        assert notified(alertmanager, episode) == ["firing"]

        produce_alerts(bootstrap, topic, [resolved])
        assert wait_for(lambda: notified(alertmanager, episode) == ["firing", "resolved"], 20)
        time.sleep(3)  # three more group intervals: nothing more
        assert notified(alertmanager, episode) == ["firing", "resolved"]
        assert in_alertmanager(alertmanager, episode) == []  # resolved: no longer listed
        assert (dispatcher.stats.alerts, dispatcher.stats.posts, dispatcher.stats.failed_deliveries) == (2, 2, 0)
    [notification] = [
        request.body
        for request in alertmanager.receiver.requests
        if any(a["labels"].get("episode_id") == episode and a["status"] == "resolved" for a in request.body["alerts"])
    ]
    [ended] = [a for a in notification["alerts"] if a["labels"]["episode_id"] == episode]
    assert ended["endsAt"].startswith("2024-05-01T08:06:00")  # the episode's end, not when it was posted
    assert ended["annotations"]["ended_at"] == "2024-05-01T08:06:00Z"


def test_an_episode_raised_as_a_warning_and_resolved_critical_is_resolved_in_alertmanager(kafka_broker, alertmanager):
    """The job gives the resolved message the episode's peak severity; the alert that fired (as
    a warning) is the one resolved, at once, not when its endsAt passes."""
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    topic = f"am-escalated-{tag}"
    raised, resolved = surge("FUTIAN")
    resolved = {**resolved, "severity": "critical", "peak_p90_s": 2.5 * raised["threshold_s"]}
    episode = raised["episode_id"]
    produce_alerts(bootstrap, topic, [raised])
    with Running(bootstrap, topic, f"am-escalated-{tag}", alertmanager.url):
        assert wait_for(lambda: notified(alertmanager, episode) == ["firing"], 20), notified(alertmanager, episode)
        produce_alerts(bootstrap, topic, [resolved])
        assert wait_for(lambda: notified(alertmanager, episode) == ["firing", "resolved"], 20), notified(
            alertmanager, episode
        )
        assert in_alertmanager(alertmanager, episode) == []  # nothing left firing until an endsAt
    severities = [
        alert["labels"]["severity"]
        for request in alertmanager.receiver.requests
        for alert in request.body["alerts"]
        if alert["labels"].get("episode_id") == episode
    ]
    assert severities == ["warning", "warning"]


def test_a_silence_of_the_port_stops_the_notification(kafka_broker, alertmanager):
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    topic = f"am-silence-{tag}"
    raised, resolved = surge("SHENZHEN_BAY")
    episode = raised["episode_id"]
    now = datetime.now(UTC)
    silence = alertmanager.request(
        "/api/v2/silences",
        {
            "matchers": [{"name": "port", "value": "SHENZHEN_BAY", "isRegex": False, "isEqual": True}],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(minutes=10)).isoformat(),
            "createdBy": "test",
            "comment": "works at Shenzhen Bay",
        },
    )["silenceID"]
    produce_alerts(bootstrap, topic, [raised])
    with Running(bootstrap, topic, f"am-silence-{tag}", alertmanager.url):
        assert wait_for(lambda: in_alertmanager(alertmanager, episode), 20)
        [alert] = in_alertmanager(alertmanager, episode)
        assert alert["status"]["state"] == "suppressed" and alert["status"]["silencedBy"] == [silence]
        time.sleep(4)  # group_wait 1 s and three group intervals
        assert notified(alertmanager, episode) == []

        # the silence was what held it back: expired, the firing episode is notified
        alertmanager.request(f"/api/v2/silence/{silence}", method="DELETE")
        assert wait_for(lambda: notified(alertmanager, episode) == ["firing"], 20), notified(alertmanager, episode)
        produce_alerts(bootstrap, topic, [resolved])
        assert wait_for(lambda: notified(alertmanager, episode) == ["firing", "resolved"], 20)


def test_a_restarted_dispatcher_keeps_posting_the_open_episodes_it_finds_in_alertmanager(kafka_broker, alertmanager):
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    topic, group = f"am-restart-{tag}", f"am-restart-{tag}"
    raised, resolved = surge("HUANGGANG", "truck")
    episode = raised["episode_id"]
    produce_alerts(bootstrap, topic, [raised])
    with Running(bootstrap, topic, group, alertmanager.url) as first:
        assert wait_for(lambda: first.stats.alerts == 1 and not first.in_flight(), 20)
    # the raised message is committed: the next dispatcher of the group does not read it again
    with Running(bootstrap, topic, group, alertmanager.url) as second:
        time.sleep(6)  # past the endsAt of the first dispatcher's last post
        assert second.stats.alerts == 0 and second.stats.reposts >= 3
        [alert] = in_alertmanager(alertmanager, episode)
        assert alert["status"]["state"] == "active"
        produce_alerts(bootstrap, topic, [resolved])
        assert wait_for(lambda: notified(alertmanager, episode) == ["firing", "resolved"], 20)
    assert in_alertmanager(alertmanager, episode) == []


def test_an_early_warning_is_notified_apart_from_a_spike_and_not_counted_as_one(kafka_broker, alertmanager):
    bootstrap, tag = kafka_broker.bootstrap, uuid.uuid4().hex[:8]
    topic = f"am-{tag}"
    spike, _ = surge("LIANTANG", "truck")
    warning = {
        **spike,
        "episode_id": str(uuid.uuid4()),
        "severity": "early-warning",
        "episode_type": "forecast",
        "advice_port_code": "SHENZHEN_BAY",
        "advice_forecast_s": 600.0,
        "advice_difference_min": 25.0,
    }
    produce_alerts(bootstrap, topic, [spike, warning])
    episodes = {spike["episode_id"], warning["episode_id"]}
    with Running(bootstrap, topic, f"am-{tag}", alertmanager.url):
        assert wait_for(lambda: all(notified(alertmanager, episode) == ["firing"] for episode in episodes), 20)
        with alertmanager.receiver.lock:
            groups = [
                {alert["labels"]["episode_id"] for alert in request.body["alerts"]} & episodes
                for request in alertmanager.receiver.requests
            ]
        assert sorted(sorted(group) for group in groups if group) == sorted(
            [[spike["episode_id"]], [warning["episode_id"]]]
        )
        matchers = "&".join(f"filter={urllib.parse.quote(m)}" for m in (*OPEN_SPIKES, 'port="LIANTANG"'))
        counted = {alert["labels"]["episode_id"] for alert in alertmanager.request(f"/api/v2/alerts?{matchers}")}
        assert counted == {spike["episode_id"]}
