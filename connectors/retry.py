"""Capped exponential backoff: retry an operation until it succeeds or a stop is requested.

Shared by the loader (an insert into ClickHouse) and the alert dispatcher (a POST to a
webhook): neither ever gives up on its batch or message, it waits longer between attempts."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


class Stopped(Exception):
    """A stop was requested while an operation was still being retried."""


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts: `initial_s`, then doubling, never more than `max_s`."""

    initial_s: float
    max_s: float

    @classmethod
    def from_ms(cls, initial_ms: int, max_ms: int) -> Backoff:
        return cls(initial_ms / 1000, max_ms / 1000)

    def delays(self) -> Iterator[float]:
        delay = self.initial_s
        while True:
            yield delay
            delay = min(delay * 2, self.max_s)


def retry(
    attempt: Callable[[], T],
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    backoff: Backoff,
    stop: threading.Event,
    on_failure: Callable[[BaseException, float], None],
    stopped: Callable[[], str],
) -> T:
    """`attempt()` until it returns, waiting `backoff` after each `retry_on` error (other
    errors propagate). `on_failure(error, delay)` is called before each wait; a stop during
    a wait raises `Stopped(stopped())`."""
    delays = backoff.delays()
    while True:
        try:
            return attempt()
        except retry_on as error:
            delay = next(delays)
            on_failure(error, delay)
            if stop.wait(delay):
                raise Stopped(stopped()) from error
