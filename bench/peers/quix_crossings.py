"""The peer of the crossings job a Python team would write instead: a Quix Streams application.

It reads the three raw topics (JSON, keyed by port) from the earliest offset with event time
from `released_at`, drops what the job's validation rejects (`crossings_logic.reason_class`)
and duplicate event ids, then counts crossings per 1-minute tumbling window and port, kind,
direction and channel type, and collects clearance seconds per 5-minute window sliding by a
minute and port, kind and direction (exact p50/p90/p99 as the job computes them), each after a
`group_by` on its dimensions. Only final windows (`.final()`) are kept.

Differences from the job, by design of Quix Streams:
- a window closes `--grace-ms` after its end on its key's latest event time, and an event is
  dropped (counted as late) from the windows already closed; the job instead drops an event
  from every window when it is more than out-of-orderness + allowed lateness behind its
  stream's (raw topic, port) latest event time. Both agree on input in order per port;
- windows still open when it stops are not reported (the job publishes them as upserts);
- at-least-once processing (Quix's default) where the job is exactly-once.

Runs in its own virtualenv (`.cache/venv-quix`, bench/peers/requirements.txt) and stops once
`--events` raw records are consumed and each window branch has taken every clean one; then
writes one JSON document to `--out`: counts, elapsed seconds and the final windows.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

from crossings_logic import (
    RAW_TOPICS,
    clearance_figures,
    clearance_key,
    clearance_s,
    iso,
    millis,
    parse_time,
    reason_class,
    throughput_key,
)
from quixstreams import Application
from quixstreams.dataframe.windows import Collect
from quixstreams.models.serializers.exceptions import ValueDeserializationError


class Progress:
    """What the application has consumed, dropped and emitted; stops it once done."""

    def __init__(self, events: int, skew_tolerance_s: int) -> None:
        self.app: Application | None = None
        self.events = events
        self.skew_tolerance_s = skew_tolerance_s
        self.counts = {
            "consumed": 0,
            "malformed": 0,
            "invalid": 0,
            "duplicates": 0,
            "late": 0,
            "throughput_events": 0,
            "clearance_events": 0,
        }
        self.started = time.time()
        self.first_at: float | None = None
        self.done_at: float | None = None
        self.throughput: list[dict] = []
        self.clearance: list[dict] = []

    def consumed(self, value) -> None:
        self.first_at = self.first_at or time.time()
        self.counts["consumed"] += 1

    def valid(self, value) -> bool:
        if reason_class(value, datetime.now(UTC), self.skew_tolerance_s) is None:
            return True
        self.counts["invalid"] += 1
        self.stop_when_done()
        return False

    def first_seen(self, value, state) -> bool:
        """Dedup by event id, per port (the message key: a port's events share a partition)."""
        if state.get(value["event_id"]):
            self.counts["duplicates"] += 1
            self.stop_when_done()
            return False
        state.set(value["event_id"], True)
        return True

    def windowed(self, branch: str):
        def count(value) -> None:
            self.counts[f"{branch}_events"] += 1
            self.stop_when_done()

        return count

    def late(self, *args) -> bool:
        self.counts["late"] += 1
        return False  # no log line per late event

    def malformed(self, error: Exception, message, logger) -> bool:
        """A record that is not JSON is a dead letter: counted and skipped; any other consumer
        error stops the application."""
        if message is None or not isinstance(error, ValueDeserializationError):
            return False
        self.counts["malformed"] += 1
        self.stop_when_done()
        return True

    def stop_when_done(self) -> None:
        clean = self.counts["consumed"] - self.counts["invalid"] - self.counts["duplicates"]  # malformed: not consumed
        if (
            self.counts["consumed"] + self.counts["malformed"] >= self.events
            and self.counts["throughput_events"] >= clean
            and self.counts["clearance_events"] >= clean
        ):
            self.done_at = self.done_at or time.time()
            self.app.stop()

    def report(self) -> dict:
        done = self.done_at or time.time()
        measured_from = self.first_at or self.started
        return {
            **self.counts,
            "complete": self.done_at is not None,
            "elapsed_s": round(done - measured_from, 3),
            "elapsed_with_startup_s": round(done - self.started, 3),
            "events_per_s": round(self.counts["consumed"] / max(done - measured_from, 1e-9)),
            "throughput": self.throughput,
            "clearance": self.clearance,
        }


def event_time(value, headers, timestamp: float, timestamp_type) -> int:
    """released_at in epoch ms; the Kafka timestamp for a record without a readable one (it
    is a dead letter, and validation drops it before any window)."""
    released = value.get("released_at") if isinstance(value, dict) else None
    at = parse_time(released) if isinstance(released, str) else None
    return millis(at) if at is not None else int(timestamp)


def build(app: Application, progress: Progress, grace_ms: int) -> None:
    """One dataflow per raw topic (each kind has its own windows, so nothing needs to be
    merged): validation -> dedup -> the two window branches."""
    for name in RAW_TOPICS:
        sdf = app.dataframe(app.topic(name, value_deserializer="json", timestamp_extractor=event_time))
        sdf = sdf.update(progress.consumed).filter(progress.valid).filter(progress.first_seen, stateful=True)
        kind = name.rsplit(".", 1)[1]

        throughput = sdf.group_by(throughput_key, name=f"throughput-{kind}").update(progress.windowed("throughput"))
        throughput = (
            throughput.tumbling_window(duration_ms=60_000, grace_ms=grace_ms, name="throughput", on_late=progress.late)
            .count()
            .final()
        )
        throughput.update(
            lambda window, key, timestamp, headers: progress.throughput.append(
                {"window_start": iso(window["start"]), "key": key, "crossings": window["value"]}
            ),
            metadata=True,
        )

        clearance = sdf.group_by(clearance_key, name=f"clearance-{kind}").update(progress.windowed("clearance"))
        clearance = clearance.apply(clearance_s)
        clearance = (
            clearance.hopping_window(
                duration_ms=300_000, step_ms=60_000, grace_ms=grace_ms, name="clearance", on_late=progress.late
            )
            .agg(seconds=Collect())
            .final()
        )
        clearance.update(
            lambda window, key, timestamp, headers: progress.clearance.append(
                {"window_start": iso(window["start"]), "key": key, **clearance_figures(window["seconds"])}
            ),
            metadata=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--group", required=True, help="a new consumer group reads from the earliest offset")
    parser.add_argument("--events", type=int, required=True, help="raw records to consume before stopping")
    parser.add_argument("--out", type=Path, required=True, help="JSON document of counts, timings and windows")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument(
        "--grace-ms", type=int, default=630_000, help="the job's out-of-orderness plus allowed lateness"
    )
    parser.add_argument("--skew-tolerance-s", type=int, default=300)
    parser.add_argument(
        "--idle-timeout-s",
        type=float,
        default=120,
        help="stop when no message came for this long (the report is then incomplete)",
    )
    args = parser.parse_args()

    progress = Progress(args.events, args.skew_tolerance_s)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=str(args.state_dir),
        loglevel="WARNING",
        on_consumer_error=progress.malformed,
    )
    progress.app = app
    build(app, progress, args.grace_ms)
    app.run(timeout=args.idle_timeout_s, collect=False)
    args.out.write_text(json.dumps(progress.report()))


if __name__ == "__main__":
    main()
