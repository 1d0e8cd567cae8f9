"""The interface every event source implements, and pacing of a stream against a real clock."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from schemas.events import Crossing


class Source(ABC):
    """A stream of crossing events; one subclass per backend (simulator.py, replay.py)."""

    @abstractmethod
    def events(self) -> Iterator[Crossing]:
        """Yield the events in `released_at` order."""

    @abstractmethod
    def summary(self) -> dict[str, Any]:
        """JSON-able counts of what `events` produced; complete once the iteration ends."""


def paced(
    events: Iterable[Crossing],
    speed: float,
    *,
    start: datetime | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[Crossing]:
    """Yield `events` no sooner than their `released_at`, with event time running at `speed`
    times real time (speed 60: one simulated minute per second).

    Event time `start` (default: the first event's `released_at`) is pinned to the real time
    of the first `next()`. `clock` and `sleep` are injectable so tests need not wait.
    """
    if speed <= 0:
        raise ValueError(f"speed must be > 0 (times real time), got {speed}")
    origin = start
    real_origin = clock()
    for event in events:
        if origin is None:
            origin = event.released_at
        due = real_origin + (event.released_at - origin).total_seconds() / speed
        delay = due - clock()
        if delay > 0:
            sleep(delay)
        yield event
