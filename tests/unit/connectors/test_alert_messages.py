"""What the alert dispatcher sends: the parsed message, its JSON body, summary and idempotency
key; the retry schedule (shared with the loader); the webhook settings."""

from __future__ import annotations

import itertools
import threading

import orjson
import pytest

from connectors.alerts.dispatcher import (
    AlertError, Dispatcher, DispatcherStats, Webhook, body, idempotency_key, parse_alert, summary,
)
from connectors.kafka.consumer import CommitRefused, Record
from connectors.retry import Backoff, Stopped, retry
from pipeline.settings import AlertSettings

RAISED = {"episode_id": "7d0f3c1e-9a4b-4e57-8b61-2f0c9d1e5a33", "state": "raised", "severity": "critical",
          "port_code": "LUOHU", "kind": "traveller", "direction": "exit", "started_at": "2024-05-01T08:00:00Z",
          "ended_at": None, "peak_p90_s": 950.4, "threshold_s": 300}
RESOLVED = {**RAISED, "state": "resolved", "ended_at": "2024-05-01T08:20:00.250Z", "peak_p90_s": 1210.0}


def test_the_body_is_the_message_plus_summary_and_idempotency_key():
    sent = orjson.loads(body(parse_alert(orjson.dumps(RAISED))))
    assert sent == {**RAISED, "summary": summary(RAISED), "idempotency_key": f"{RAISED['episode_id']}:raised"}


def test_raised_and_resolved_summaries_name_the_port_the_figures_and_the_times():
    assert summary(RAISED) == ("CRITICAL raised: traveller exit clearance at Luohu Port is slow: p90 950 s over "
                               "the 300 s threshold since 2024-05-01 08:00 UTC")
    assert summary(RESOLVED) == ("CRITICAL resolved: traveller exit clearance at Luohu Port is back under the 300 s "
                                 "threshold (peak p90 1210 s, 2024-05-01 08:00 UTC to 2024-05-01 08:20 UTC)")
    assert "at NOWHERE is slow" in summary({**RAISED, "port_code": "NOWHERE"})  # unknown code: as it is


def test_the_idempotency_key_is_the_same_for_every_copy_and_differs_by_state():
    assert idempotency_key(RAISED) == idempotency_key(dict(RAISED)) != idempotency_key(RESOLVED)
    assert idempotency_key(RESOLVED) == f"{RAISED['episode_id']}:resolved"


@pytest.mark.parametrize(("value", "message"), [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (orjson.dumps({k: v for k, v in RAISED.items() if k != "port_code"}), "port_code"),
    (orjson.dumps({**RAISED, "peak_p90_s": "950"}), "peak_p90_s"),
    (orjson.dumps({**RAISED, "threshold_s": True}), "threshold_s"),
    (orjson.dumps({**RAISED, "state": "acknowledged"}), "state: not one of raised, resolved"),
    (orjson.dumps({**RAISED, "ended_at": 12}), "ended_at"),
])
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
    result = retry(attempt, ConnectionError, Backoff(0.001, 0.002), stop, lambda error, delay: waits.append(delay),
                   lambda: "stopped")
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


def test_a_webhook_is_named_by_its_server_only_and_carries_the_token():
    webhook = Webhook("https://ops.example/alerts/s3cret?k=1", "t0ken", 5.0)
    assert webhook.name == "https://ops.example" and webhook.path == "/alerts/s3cret?k=1"
    assert webhook.headers["Authorization"] == "Bearer t0ken"
    assert "Authorization" not in Webhook("http://127.0.0.1:9/", None, 5.0).headers


class FakeReader:
    """Commits succeed until `fail_at` (the n-th commit), which the group refuses."""

    def __init__(self, fail_at: int) -> None:
        self.commits: list[dict] = []
        self.rewinds: dict = {}
        self.fail_at = fail_at

    def commit(self, offsets: dict) -> None:
        if len(self.commits) + 1 == self.fail_at:
            raise CommitRefused("rebalanced")
        self.commits.append(dict(offsets))

    def rewind(self, partition: tuple[str, int], offset: int) -> None:
        self.rewinds[partition] = offset


def test_a_refused_commit_rewinds_every_partition_to_its_first_record_not_committed():
    # a partition that stays assigned through the rebalance would read on after the rest of
    # the poll, which was not delivered: without the rewind those records would be skipped
    dispatcher = Dispatcher.__new__(Dispatcher)
    dispatcher.settings, dispatcher.stats, dispatcher.webhooks = AlertSettings(_env_file=None), DispatcherStats(), []
    dispatcher.stop, dispatcher.backoff = threading.Event(), Backoff(0.01, 0.01)
    dispatcher._uncommitted, dispatcher._committed = {}, {}
    dispatcher.reader = FakeReader(fail_at=2)
    a, b = ("alerts", 0), ("alerts", 1)
    alert = orjson.dumps(RAISED)
    records = [Record(*a, 10, alert), Record(*a, 11, None), Record(*a, 12, alert),
               Record(*b, 5, alert), Record(*b, 6, alert)]

    assert dispatcher._dispatch(records) == 3  # a@10 committed, a@11 skipped, a@12 delivered: its commit fails

    assert dispatcher.reader.commits == [{a: 11}]
    assert dispatcher.reader.rewinds == {a: 11, b: 5} and dispatcher.stats.failed_commits == 1
