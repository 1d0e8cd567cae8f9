"""`make bench-job`: the crossings job on a real standalone cluster at parallelism 2, by default
one TaskManager with 2 slots (`--taskmanagers 2`: two of one slot).

1. Backlog: `--events` crossings of full-scale simulated days are in the raw topics before
   the job starts; sustained events/s is measured on the job's reconciliation counts (what it
   has committed to Kafka), from the first committed count to the last, and per quarter of
   the backlog (a rate that falls as state grows shows in the last quarter against the first).
2. Live: `--live-rate` events/s with `released_at` = now for `--live-s` seconds; latency is
   from each event's produce call to the first committed throughput window that counts it.
3. Checkpoints: duration and size, from the REST API; peak RSS of each TaskManager (/proc).
4. CPU over the backlog (/proc): seconds of the broker, the JobManager, each TaskManager and
   this script, and of each TaskManager's busiest threads, its JIT compilers and its GC.

Starts its own broker and cluster in a temporary folder (all stopped at the end). Prints one
JSON document.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, Producer

from bench import percentile
from bench.follow import KafkaFollower
from bench.procfs import CLOCK_TICKS, children, cpu_seconds, cpu_ticks, descendants, peak_rss, thread_cpu_seconds
from bench.produce import simulated
from connectors.kafka.settings import KafkaSettings
from connectors.kafka.topics import JOB_OUTPUTS, PIPELINE_COUNTS, RAW_TOPICS, THROUGHPUT, ensure_topics
from deploy.services import KafkaBroker
from deploy.services.flink import FlinkCluster
from deploy.services.process import StoppedBySignal, supervised
from deploy.services.settings import FlinkSettings
from pipeline.jobs.settings import PipelineSettings
from pipeline.runtime import JOB_SCRIPT, submit
from schemas.events import Crossing, raw_topic
from schemas.privacy import PrivacySettings

TARGET_EVENTS_PER_S = 50_000
PARALLELISM = 2


class CommittedUpserts(KafkaFollower):
    """Follows upsert topics (read_committed) in a thread: the latest value per key, and when
    each key's value was first seen at each count."""

    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-{uuid.uuid4()}",
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self.consumer.subscribe(topics)
        self.latest: dict[str, dict[bytes, dict]] = {topic: {} for topic in topics}
        self.seen_at: dict[bytes, list[tuple[int, float]]] = {}
        self.progress: list[tuple[float, int]] = []  # (when, records received) after each read
        super().__init__(self.consumer)

    def step(self) -> None:
        messages = self.consumer.consume(10_000, timeout=0.2)
        self.read(messages)
        if messages:
            self.progress.append((time.monotonic(), self.received()))

    def read(self, messages) -> None:
        for message in messages:
            if message.error():
                continue
            now = time.monotonic()
            values = self.latest[message.topic()]
            if message.value() is None:
                values.pop(message.key(), None)
                continue
            value = json.loads(message.value())
            values[message.key()] = value
            if message.topic() == THROUGHPUT.name:
                self.seen_at.setdefault(window_key(value), []).append((value["crossings"], now))

    def received(self) -> int:
        return sum(row["received"] for row in list(self.latest[PIPELINE_COUNTS.name].values()))


def quarter_rates(progress: list[tuple[float, int]], total: int) -> list[int]:
    """Events/s over each quarter of a backlog of `total`, from (when, received so far) samples."""

    def reached(count: int) -> float:
        return next(when for when, received in progress if received >= count)

    bounds = [reached(max(1, total * q // 4)) for q in range(5)]
    return [round(total / 4 / max(end - start, 1e-9)) for start, end in zip(bounds, bounds[1:])]


def window_key(row: dict) -> bytes:
    return "/".join(row[k] for k in ("window_start", "port_code", "kind", "direction", "channel_type")).encode()


def send(producer: Producer, event: Crossing) -> None:
    while True:
        try:
            producer.produce(raw_topic(event.kind), event.to_json(), event.port_code.encode())
            return
        except BufferError:
            producer.poll(0.05)


def live_copy(event: Crossing) -> Crossing:
    """`event` released now, with a new id."""
    shift = datetime.now(UTC) - event.released_at
    return event.model_copy(
        update={
            "event_id": uuid.uuid4(),
            "queued_at": event.queued_at + shift,
            "inspection_started_at": event.inspection_started_at + shift,
            "released_at": event.released_at + shift,
        }
    )


def wait_until(condition, timeout_s: float, what: str) -> float:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(0.5)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def taskmanager_jvms(cluster: FlinkCluster) -> list[int]:
    """The pid of each TaskManager's JVM (a child of the script the cluster started)."""
    tree = children()
    return [
        pid
        for leader in cluster.pids[1:]
        for pid in descendants(leader, tree)
        if "TaskManagerRunner" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    ]


def jcmd(pid: int, *command: str) -> None:
    subprocess.run(["jcmd", str(pid), *command], check=True, capture_output=True)


def cpu_by_process(broker: KafkaBroker, cluster: FlinkCluster) -> dict[str, float]:
    """CPU seconds used so far by the broker, the JobManager, each TaskManager and this script
    (the producer and the follower)."""
    return {
        "broker": cpu_seconds(broker.pid),
        "jobmanager": cpu_seconds(cluster.pids[0]),
        **{f"taskmanager-{index}": cpu_seconds(pid) for index, pid in enumerate(cluster.pids[1:])},
        "bench": cpu_ticks(Path("/proc/self/stat").read_text()) / CLOCK_TICKS,
    }


def thread_groups(now: dict[str, float], before: dict[str, float], top: int = 8) -> dict[str, float]:
    """CPU seconds of a JVM's threads between two readings: the JIT compilers and the garbage
    collector summed, then the busiest other threads (names cut to 15 characters by the kernel)."""
    spent: Counter = Counter()
    for name, seconds in now.items():
        group = "jit" if "CompilerThre" in name else "gc" if name.startswith(("GC Thread", "G1 ")) else name
        spent[group] += seconds - before.get(name, 0.0)
    kept = dict(spent.most_common(top))
    for group in ("jit", "gc"):
        kept[group] = spent[group]
    kept["other threads"] = sum(spent.values()) - sum(kept.values())
    return {name: round(seconds, 1) for name, seconds in kept.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=2_000_000, help="backlog size")
    parser.add_argument("--live-rate", type=int, default=200, help="events/s in the latency phase")
    parser.add_argument("--live-s", type=int, default=30, help="length of the latency phase")
    parser.add_argument("--timeout-s", type=int, default=1800)
    parser.add_argument(
        "--jfr",
        type=Path,
        help="record each TaskManager with JFR over the backlog, into "
        "this folder (taskmanager-<n>.jfr; read with python -m bench.jfr_top)",
    )
    parser.add_argument(
        "--taskmanagers",
        type=int,
        choices=[1, PARALLELISM],
        default=1,
        help="TaskManagers sharing the job's slots (FLINK_TASKMANAGER_MEMORY sets the memory of each)",
    )
    args = parser.parse_args()
    settings = PipelineSettings()

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-job-")))
        broker = stack.enter_context(KafkaBroker(KafkaSettings(data_dir=folder / "kafka")))
        bootstrap = broker.bootstrap
        cluster = stack.enter_context(
            FlinkCluster(
                FlinkSettings(
                    data_dir=folder / "flink",
                    taskmanagers=args.taskmanagers,
                    slots_per_taskmanager=PARALLELISM // args.taskmanagers,
                ),
                PrivacySettings(),
            )
        )
        ensure_topics(bootstrap, [*RAW_TOPICS.values(), *JOB_OUTPUTS])

        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
        events = simulated(args.events + args.live_rate * args.live_s, seed=1)
        for _ in range(args.events):
            send(producer, next(events))
        producer.flush(120)

        upserts = stack.enter_context(CommittedUpserts(bootstrap, [PIPELINE_COUNTS.name, THROUGHPUT.name]))
        output = submit(
            JOB_SCRIPT,
            ["--bootstrap", bootstrap],
            cluster.rest_url,
            PARALLELISM,
            300,
            flink=cluster.settings,
            detached=True,
            env={"PIPELINE_CHECKPOINT_DIR": str(folder / "checkpoints")},
        )
        job_id = output.split("JobID ")[1].split()[0]
        stack.callback(cluster.request, f"/jobs/{job_id}?mode=cancel", method="PATCH")

        submitted = time.monotonic()
        first = wait_until(lambda: upserts.received() > 0, args.timeout_s, "the first committed counts")
        first_count = upserts.received()
        cpu_at_first = cpu_by_process(broker, cluster)
        jvms = taskmanager_jvms(cluster)
        threads_at_first = [thread_cpu_seconds(pid) for pid in jvms]
        recording = jvms if args.jfr else []
        if args.jfr:
            args.jfr.mkdir(parents=True, exist_ok=True)
        for index, pid in enumerate(recording):
            jcmd(
                pid,
                "JFR.start",
                "name=bench-job",
                "settings=profile",
                f"filename={args.jfr.resolve() / f'taskmanager-{index}.jfr'}",
            )
        done = wait_until(lambda: upserts.received() >= args.events, args.timeout_s, "the backlog")
        cpu_over_backlog = {
            name: round(seconds - cpu_at_first[name], 1) for name, seconds in cpu_by_process(broker, cluster).items()
        }
        threads_over_backlog = [
            thread_groups(thread_cpu_seconds(pid), before) for pid, before in zip(jvms, threads_at_first, strict=True)
        ]
        for pid in recording:
            jcmd(pid, "JFR.stop", "name=bench-job")
        sustained = (args.events - first_count) / max(done - first, 1e-9)
        quarters = quarter_rates(upserts.progress, args.events)

        sent_at: list[tuple[bytes, int, float]] = []
        live_counts: Counter = Counter()
        started = time.monotonic()
        for sent, event in enumerate(events):
            time.sleep(max(0.0, started + sent / args.live_rate - time.monotonic()))
            event = live_copy(event)
            key = window_key(
                {
                    "window_start": event.released_at.strftime("%Y-%m-%dT%H:%M:00Z"),
                    "port_code": event.port_code,
                    "kind": event.kind.value,
                    "direction": event.direction.value,
                    "channel_type": event.channel_type.value,
                }
            )
            live_counts[key] += 1
            send(producer, event)
            sent_at.append((key, live_counts[key], time.monotonic()))
            producer.poll(0)
        producer.flush(60)
        del producer  # its client would keep calling the broker after the broker stops
        wait_until(lambda: upserts.received() >= args.events + len(sent_at), args.timeout_s, "the live events")
        time.sleep(1)  # the throughput upserts of the last commit

        latencies = []
        for key, count, at in sent_at:
            seen = next((t for crossings, t in upserts.seen_at.get(key, []) if crossings >= count), None)
            if seen is not None:
                latencies.append(seen - at)
        checkpoints = cluster.request(f"/jobs/{job_id}/checkpoints")
        taskmanager_rss = [max(p["peak_rss_mb"] for p in peak_rss(pid)) for pid in cluster.pids[1:]]

    summary = checkpoints["summary"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(
        json.dumps(
            {
                "benchmark": "job",
                "date": time.strftime("%Y-%m-%d"),
                "commit": commit,
                "parallelism": PARALLELISM,
                "taskmanagers": args.taskmanagers,
                "backlog_events": args.events,
                "startup_s": round(first - submitted, 1),
                "sustained_events_per_s": round(sustained),
                "quarter_events_per_s": quarters,
                "last_to_first_quarter": round(quarters[-1] / quarters[0], 2),
                "target_events_per_s": TARGET_EVENTS_PER_S,
                "state_backend": settings.state_backend,
                "delivery_guarantee": settings.delivery_guarantee,
                "taskmanager_memory": FlinkSettings().taskmanager_memory,
                "taskmanager_peak_rss_mb": taskmanager_rss,
                "backlog_s": round(done - first, 1),
                "cores": os.cpu_count(),
                # of the machine's backlog_s x cores
                "cpu_s_over_backlog": cpu_over_backlog,
                "taskmanager_threads_cpu_s_over_backlog": threads_over_backlog,
                "checkpoint_interval_s": settings.checkpoint_interval_s,
                "checkpoints": {
                    "completed": checkpoints["counts"]["completed"],
                    "duration_ms_p50": summary["end_to_end_duration"].get("p50"),
                    "duration_ms_max": summary["end_to_end_duration"]["max"],
                    "state_bytes_max": summary["state_size"]["max"],
                },
                "latency_s": {
                    "events": len(sent_at),
                    "measured": len(latencies),
                    "p50": round(percentile(latencies, 0.5), 2) if latencies else None,
                    "p99": round(percentile(latencies, 0.99), 2) if latencies else None,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    try:
        with supervised():  # SIGTERM or SIGHUP stops the job, cluster and broker as Ctrl-C does
            main()
    except StoppedBySignal as stopped:
        print(f"bench.job: {stopped}", file=sys.stderr)
        sys.exit(stopped.exit_status)
