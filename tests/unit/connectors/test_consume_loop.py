"""The consume loop the loader and the dispatcher share: its order of calls, its stats, a lag
read that survives the broker going away, and a consumer closed whatever happens."""

from __future__ import annotations

import threading

import pytest
from confluent_kafka import KafkaError, KafkaException

from connectors.kafka.consumer import ConsumeLoop, ConsumerStats, Record


class Reader:
    """A GroupReader stand-in: `batches` to poll in turn, then nothing; `lags` answered in turn
    (an exception is raised)."""

    def __init__(self, batches: list[list[Record]], lags: list) -> None:
        self.batches, self.lags, self.closed = list(batches), list(lags), False

    def poll(self, max_records: int, timeout_s: float) -> list[Record]:
        return self.batches.pop(0) if self.batches else []

    def lag(self):
        answer = self.lags.pop(0) if len(self.lags) > 1 else self.lags[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def at_end(self) -> bool:
        return not self.batches

    def close(self) -> None:
        self.closed = True


class Recording(ConsumeLoop):
    def __init__(self, reader: Reader, fail_on: int | None = None) -> None:
        super().__init__(reader, ConsumerStats(), threading.Event(), stats_interval_s=3600)
        self.calls: list[str] = []
        self.fail_on = fail_on

    def poll(self) -> list[Record]:
        return self.reader.poll(10, 0)

    def take(self, record: Record) -> None:
        if record.offset == self.fail_on:
            raise RuntimeError("a bug")
        self.calls.append(f"take {record.offset}")

    def tick(self) -> None:
        self.calls.append("tick")

    def drain(self) -> None:
        self.calls.append("drain")

    def finish(self) -> None:
        self.calls.append("finish")

    def stats_line(self) -> str:
        return "stats"


def records(*offsets: int) -> list[Record]:
    return [Record("t", 0, offset, b"{}") for offset in offsets]


def test_once_takes_every_record_ticks_after_each_poll_then_finishes_and_closes():
    reader = Reader([records(0, 1), records(2)], lags=[{"t": 0}])
    loop = Recording(reader)
    stats = loop.run(once=True)
    assert loop.calls == ["take 0", "take 1", "tick", "take 2", "tick", "tick", "drain", "finish"]
    assert reader.closed and stats.total_lag == 0 and stats.as_dict()["lag"] == {"t": 0}


def test_a_lag_read_while_the_broker_is_away_keeps_the_last_lag(caplog):
    loop = Recording(Reader([], lags=[{"t": 7}, KafkaException(KafkaError(KafkaError._TRANSPORT))]))
    assert loop.update_lag() == 7
    assert loop.update_lag() == 7
    assert "cannot read the end offsets" in caplog.text


def test_an_error_still_finishes_and_closes_the_consumer():
    reader = Reader([records(0, 1)], lags=[KafkaException(KafkaError(KafkaError._TRANSPORT))])
    loop = Recording(reader, fail_on=1)
    with pytest.raises(RuntimeError, match="a bug"):
        loop.run()
    assert loop.calls == ["take 0", "finish"] and reader.closed


def test_the_lag_of_a_member_not_yet_assigned_is_unknown_not_zero():
    stats = ConsumerStats()
    assert stats.lag_text == "?"
    stats.lag = {"t": 0}
    assert stats.lag_text == "0"
