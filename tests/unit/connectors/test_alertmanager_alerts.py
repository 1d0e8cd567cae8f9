"""An alert message as an alert of Alertmanager's v2 API: one identity per episode, endsAt ahead
while raised and at the episode's end once resolved, never ahead of the wall clock otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from connectors.alerts.dispatcher import Dispatcher, alertmanager_alert
from connectors.alerts.settings import AlertSettings
from tests.unit.connectors.test_alert_messages import RAISED, RESOLVED, WARNING_RAISED, WARNING_RESOLVED

NOW = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)


def test_a_raised_episode_is_one_alert_ending_ahead_of_now():
    alert = alertmanager_alert(RAISED, NOW, 3600)
    assert alert["labels"] == {
        "alertname": "ClearanceSpike",
        "port": "LUOHU",
        "kind": "traveller",
        "direction": "exit",
        "severity": "critical",
        "episode_id": RAISED["episode_id"],
    }
    assert (alert["startsAt"], alert["endsAt"]) == ("2024-05-01T08:00:00.000Z", "2024-05-01T10:00:00.000Z")
    annotations = alert["annotations"]
    assert (annotations["peak_p90_s"], annotations["threshold_s"], annotations["ended_at"]) == ("950.4", "300", "")
    assert annotations["port_name"] == "Luohu Port" and annotations["started_at"] == RAISED["started_at"]
    assert annotations["summary"].startswith("CRITICAL raised: traveller exit clearance at Luohu Port is slow")


def test_an_early_warning_is_labelled_as_one_with_its_advice_annotated():
    raised, resolved = alertmanager_alert(WARNING_RAISED, NOW, 3600), alertmanager_alert(WARNING_RESOLVED, NOW, 3600)
    assert (
        raised["labels"]
        == resolved["labels"]
        == {
            "alertname": "ClearanceSpike",
            "port": "SHENZHEN_BAY",
            "kind": "traveller",
            "direction": "exit",
            "severity": "early-warning",
            "episode_id": WARNING_RAISED["episode_id"],
            "episode_type": "forecast",
        }
    )
    annotations = raised["annotations"]
    assert {name: annotations[name] for name in ("episode_type", "horizon_min", "peak_p90_s", "threshold_s")} == {
        "episode_type": "forecast",
        "horizon_min": "30",
        "peak_p90_s": "2460",
        "threshold_s": "1800",
    }
    assert {name: annotations[name] for name in annotations if name.startswith("advice_")} == {
        "advice_port_code": "FUTIAN",
        "advice_port_name": "Futian Port",
        "advice_forecast_s": "720",
        "advice_difference_min": "29",
    }
    assert annotations["summary"].startswith("EARLY-WARNING raised: Shenzhen Bay Port traveller exit")
    assert resolved["annotations"]["summary"].startswith("EARLY-WARNING resolved")
    assert resolved["endsAt"] == "2024-05-01T01:05:00.000Z"


def test_a_clearance_episode_with_the_forecast_fields_is_the_alert_it_was():
    """Same labels (the identity of episodes open across the upgrade) and annotations."""
    with_fields = {**RAISED, "episode_type": "clearance", "advice_port_code": None, "advice_forecast_s": None}
    assert alertmanager_alert({**with_fields, "advice_difference_min": None}, NOW, 3600) == alertmanager_alert(
        RAISED, NOW, 3600
    )


def test_a_resolved_episode_has_the_same_identity_and_ends_at_its_end():
    raised, resolved = alertmanager_alert(RAISED, NOW, 3600), alertmanager_alert(RESOLVED, NOW, 3600)
    assert resolved["labels"] == raised["labels"]
    assert resolved["endsAt"] == "2024-05-01T08:20:00.250Z"
    assert resolved["annotations"]["peak_p90_s"] == "1210"


def test_an_episode_raised_as_a_warning_is_resolved_with_the_labels_it_fired_with():
    """The job gives a resolved episode its peak's severity: critical, where it was raised as a
    warning. Resolved under `critical`, the `warning` alert would fire on until its endsAt."""
    warning = alertmanager_alert({**RAISED, "severity": "warning"}, NOW, 3600)
    resolved = alertmanager_alert(RESOLVED, NOW, 3600, firing=warning["labels"])
    assert RESOLVED["severity"] == "critical"
    assert resolved["labels"] == warning["labels"] and resolved["labels"]["severity"] == "warning"
    assert resolved["endsAt"] == "2024-05-01T08:20:00.250Z"
    assert resolved["annotations"]["summary"].startswith("CRITICAL resolved")
    # a raised message keeps its own labels whatever was posted before
    assert alertmanager_alert(RAISED, NOW, 3600, firing=warning["labels"])["labels"]["severity"] == "critical"


def test_event_time_ahead_of_the_wall_clock_is_capped_at_now():
    early = datetime(2024, 5, 1, 8, 10, tzinfo=UTC)  # before the episode ended, in event time
    resolved = alertmanager_alert(RESOLVED, early, 3600)
    assert resolved["endsAt"] == "2024-05-01T08:10:00.000Z"  # resolved now, not in ten minutes
    before = datetime(2024, 5, 1, 7, 0, tzinfo=UTC)
    raised = alertmanager_alert(RAISED, before, 60)
    assert (raised["startsAt"], raised["endsAt"]) == ("2024-05-01T07:00:00.000Z", "2024-05-01T07:01:00.000Z")


def test_an_episode_must_be_posted_again_before_it_would_end():
    with pytest.raises(ValidationError, match="longer than ALERTS_ALERTMANAGER_REPOST_S"):
        AlertSettings(_env_file=None, alertmanager_repost_s=600, alertmanager_ends_after_s=300)
    with pytest.raises(ValidationError, match="must be an http"):
        AlertSettings(_env_file=None, alertmanager_url="alertmanager:9093")


def test_with_alertmanager_the_webhooks_are_not_used():
    settings = AlertSettings(
        _env_file=None,
        alertmanager_url="http://alertmanager.example:9093/",
        alertmanager_token="am-t0ken",
        webhook_urls="https://a.example/x?k=1",
        webhook_token="t0ken",
    )
    dispatcher = Dispatcher("unused:9092", settings, reader=object())
    [target] = dispatcher.webhooks
    assert (target.name, target.host, target.port, target.path) == (
        "alertmanager",
        "alertmanager.example",
        9093,
        "/api/v2/alerts",
    )
    assert target.headers["Authorization"] == "Bearer am-t0ken"
    without = AlertSettings(_env_file=None, webhook_urls="https://a.example/x")
    fallback = Dispatcher("unused:9092", without, reader=object())
    assert [webhook.name for webhook in fallback.webhooks] == ["webhook 1"]
