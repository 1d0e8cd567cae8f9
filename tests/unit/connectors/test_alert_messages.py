"""What the alert dispatcher sends: the parsed message, its JSON body, summary and idempotency
key; the retry schedule (shared with the loader); the webhook settings and names. The delivery
to each webhook: test_alert_delivery.py."""

from __future__ import annotations

import itertools
import threading

import orjson
import pytest

from connectors.alerts.dispatcher import (
    ADVICE,
    FORECAST_HORIZON_MIN,
    AlertError,
    Dispatcher,
    Webhook,
    body,
    idempotency_key,
    parse_alert,
    summary,
)
from connectors.alerts.settings import AlertSettings
from connectors.retry import Backoff, Stopped, retry
from pipeline.transforms.forecast import WARNING_HORIZON_MIN

RAISED = {
    "episode_id": "7d0f3c1e-9a4b-4e57-8b61-2f0c9d1e5a33",
    "state": "raised",
    "severity": "critical",
    "port_code": "LUOHU",
    "kind": "traveller",
    "direction": "exit",
    "started_at": "2024-05-01T08:00:00Z",
    "ended_at": None,
    "peak_p90_s": 950.4,
    "threshold_s": 300,
}
RESOLVED = {**RAISED, "state": "resolved", "ended_at": "2024-05-01T08:20:00.250Z", "peak_p90_s": 1210.0}
# an early warning of the forecast job: the 30-minute forecast over the threshold, and where to divert
WARNING_RAISED = {
    "episode_id": "0b6a1d52-4f7e-5c1a-9e3b-6d2c8f4a7b10",
    "state": "raised",
    "severity": "early-warning",
    "port_code": "SHENZHEN_BAY",
    "kind": "traveller",
    "direction": "exit",
    "started_at": "2024-05-01T00:10:00Z",
    "ended_at": None,
    "peak_p90_s": 2460.0,
    "threshold_s": 1800,
    "episode_type": "forecast",
    "advice_port_code": "FUTIAN",
    "advice_forecast_s": 720.0,
    "advice_difference_min": 29.0,
}
WARNING_RESOLVED = {**WARNING_RAISED, "state": "resolved", "ended_at": "2024-05-01T01:05:00Z", "peak_p90_s": 2730.0}


def test_the_body_is_the_message_plus_summary_and_idempotency_key():
    sent = orjson.loads(body(parse_alert(orjson.dumps(RAISED))))
    assert sent == {**RAISED, "summary": summary(RAISED), "idempotency_key": f"{RAISED['episode_id']}:raised"}


def test_raised_and_resolved_summaries_name_the_port_the_figures_and_the_times():
    assert summary(RAISED) == (
        "CRITICAL raised: traveller exit clearance at Luohu Port is slow: p90 950 s over "
        "the 300 s threshold since 2024-05-01 08:00 UTC"
    )
    assert summary(RESOLVED) == (
        "CRITICAL resolved: traveller exit clearance at Luohu Port is back under the 300 s "
        "threshold (peak p90 1210 s, 2024-05-01 08:00 UTC to 2024-05-01 08:20 UTC)"
    )
    assert "at NOWHERE is slow" in summary({**RAISED, "port_code": "NOWHERE"})  # unknown code: as it is


def test_an_early_warning_reads_as_one_with_its_diversion_advice():
    assert summary(parse_alert(orjson.dumps(WARNING_RAISED))) == (
        "EARLY-WARNING raised: Shenzhen Bay Port traveller exit: p90 expected 41 min in 30 min, over the 30 min "
        "threshold since 2024-05-01 00:10 UTC; divert to Futian Port (expected 12 min, 29 min less)"
    )
    assert summary(WARNING_RESOLVED) == (
        "EARLY-WARNING resolved: Shenzhen Bay Port traveller exit: p90 expected back under the 30 min threshold "
        "(peak forecast 46 min, 2024-05-01 00:10 UTC to 2024-05-01 01:05 UTC)"
    )
    no_peer = {**WARNING_RAISED, "port_code": "WENJINDU", "advice_port_code": None, "advice_forecast_s": None}
    assert summary({**no_peer, "advice_difference_min": None}).endswith(
        "over the 30 min threshold since 2024-05-01 00:10 UTC"
    )


def test_a_clearance_alert_with_the_forecast_fields_reads_as_before():
    """The crossings job now writes episode_type and null advice on its alerts: the same text and
    body fields as the messages written before those fields."""
    with_fields = {**RAISED, "episode_type": "clearance", **dict.fromkeys(ADVICE)}
    assert summary(parse_alert(orjson.dumps(with_fields))) == summary(RAISED)
    assert summary({**RESOLVED, "episode_type": "clearance"}) == summary(RESOLVED)
    sent = orjson.loads(body(with_fields))
    assert sent == {**with_fields, "summary": summary(RAISED), "idempotency_key": f"{RAISED['episode_id']}:raised"}


def test_the_horizon_in_the_text_is_the_one_the_early_warning_reads():
    assert FORECAST_HORIZON_MIN == WARNING_HORIZON_MIN


def test_the_idempotency_key_is_the_same_for_every_copy_and_differs_by_state():
    assert idempotency_key(RAISED) == idempotency_key(dict(RAISED)) != idempotency_key(RESOLVED)
    assert idempotency_key(RESOLVED) == f"{RAISED['episode_id']}:resolved"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (orjson.dumps({k: v for k, v in RAISED.items() if k != "port_code"}), "port_code"),
        (orjson.dumps({**RAISED, "peak_p90_s": "950"}), "peak_p90_s"),
        (orjson.dumps({**RAISED, "threshold_s": True}), "threshold_s"),
        (orjson.dumps({**RAISED, "state": "acknowledged"}), "state: Input should be 'raised' or 'resolved'"),
        (orjson.dumps({**RAISED, "ended_at": 12}), "ended_at"),
    ],
)
def test_records_that_are_not_alerts_are_rejected(value, message):
    with pytest.raises(AlertError, match=message):
        parse_alert(value)


def test_backoff_doubles_from_the_first_wait_up_to_the_cap():
    assert list(itertools.islice(Backoff.from_ms(100, 1000).delays(), 7)) == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert list(itertools.islice(Backoff(0.5, 60).delays(), 9))[-2:] == [60, 60]  # 0.5 * 2**7 = 64 -> 60


def test_retry_waits_the_schedule_and_returns_the_first_success():
    answers = iter([ConnectionError("refused"), ConnectionError("refused"), ConnectionError("refused"), "ok"])
    waits: list[float] = []

    def attempt() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    stop = threading.Event()
    result = retry(
        attempt,
        ConnectionError,
        Backoff(0.001, 0.002),
        stop,
        lambda error, delay: waits.append(delay),
        lambda: "stopped",
    )
    assert result == "ok" and waits == [0.001, 0.002, 0.002]


def test_retry_ends_with_stopped_when_a_stop_is_requested_and_lets_other_errors_through():
    stop = threading.Event()
    stop.set()

    def refused() -> None:
        raise ConnectionError("refused")

    with pytest.raises(Stopped, match="stopped before"):
        retry(refused, ConnectionError, Backoff(10, 10), stop, lambda *_: None, lambda: "stopped before delivery")
    with pytest.raises(KeyError):
        retry(lambda: {}["x"], ConnectionError, Backoff(10, 10), stop, lambda *_: None, lambda: "")


def test_webhook_urls_are_a_comma_separated_list_of_http_urls(monkeypatch):
    monkeypatch.setenv("ALERTS_WEBHOOK_URLS", " http://127.0.0.1:8080/hook , https://ops.example/alerts?k=s3cret,")
    monkeypatch.setenv("ALERTS_WEBHOOK_TOKEN", "t0ken")
    settings = AlertSettings(_env_file=None)
    assert settings.webhook_urls == ["http://127.0.0.1:8080/hook", "https://ops.example/alerts?k=s3cret"]
    assert settings.webhook_token.get_secret_value() == "t0ken" and "t0ken" not in repr(settings)
    monkeypatch.setenv("ALERTS_WEBHOOK_URLS", "")
    assert AlertSettings(_env_file=None).webhook_urls == []
    with pytest.raises(ValueError, match="URL 1 of 1 must be an http"):
        AlertSettings(_env_file=None, webhook_urls="ftp://files.example/x")


def test_a_webhook_is_named_by_its_place_never_its_url_and_carries_the_token():
    webhook = Webhook("https://ops.example:8443/alerts/s3cret?k=1", "t0ken", 5.0, "webhook 3")
    assert webhook.name == "webhook 3" and webhook.path == "/alerts/s3cret?k=1" and webhook.port == 8443
    assert webhook.headers["Authorization"] == "Bearer t0ken"
    assert "Authorization" not in Webhook("http://127.0.0.1:9/", None, 5.0).headers
    # an error text that names the server or the path (a TLS error does) shows neither
    shown = webhook._redacted(
        "SSLCertVerificationError: certificate is not valid for 'ops.example' "
        "(https://ops.example:8443/alerts/s3cret?k=1, t0ken)"
    )
    assert "ops.example" not in shown and "s3cret" not in shown and "t0ken" not in shown


def test_the_dispatcher_names_its_webhooks_by_their_place_in_the_setting():
    settings = AlertSettings(_env_file=None, webhook_urls="https://a.example/x?k=1,http://b.example/y")
    dispatcher = Dispatcher("unused:9092", settings, reader=object())
    assert [webhook.name for webhook in dispatcher.webhooks] == ["webhook 1", "webhook 2"]
    assert settings.delivery_max_seconds == 1800
