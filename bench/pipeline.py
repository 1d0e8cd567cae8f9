"""`make bench`: the whole pipeline on this machine, against Kafka's own read limit.

One run, in order, on a broker and a cluster of one TaskManager with 2 slots, started in a
temporary folder:

1. produce: `--events` crossings of full-scale simulated days (594k a day) into the raw topics;
2. job + loader: the crossings job (parallelism 2) and `crossings load` (a subprocess, chdb
   in the temporary folder) run over that backlog; the job's rate is measured on its committed
   reconciliation counts, end to end is from the first event produced until the loader has
   inserted every clean event;
3. freshness: `--live-rate` events/s released now, for `--live-s` seconds; each event from its
   produce call to queryable (the loader commits a batch's offsets only once its insert has
   returned, so a record is queryable when the loader's committed offset passes it), and each
   1-minute throughput window from its end to its final count being queryable;
4. checkpoints (REST API) and the peak RSS of every process (VmHWM, /proc);
5. load: a second loader (new group, new chdb) replays the job's outputs alone, `--once`;
6. raw limit: Kafka's ConsumerPerformance reads the raw topics, the job and loaders stopped;
7. peer (unless `--no-peer`): the same validation and windows as a Quix Streams application
   (bench/peers/, its own virtualenv) over the same raw records; its events/s against the
   job's, and its final windows against the job's (`bench.peer`).

Prints one JSON document and appends it to bench/results.jsonl with the date and commit.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from bisect import bisect_right
from collections import Counter
from contextlib import ExitStack
from datetime import datetime
from itertools import islice
from pathlib import Path

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from bench import percentile
from bench.follow import KafkaFollower
from bench.job import CommittedUpserts, live_copy, send, wait_until, window_key
from bench.peer import compare, job_windows, peer_section, run_peer
from bench.procfs import peak_rss
from bench.produce import rate, simulated
from bench.results import RESULTS, append_result
from connectors.kafka.producer import CrossingProducer
from connectors.kafka.settings import KafkaSettings
from connectors.kafka.topics import CLEAN, JOB_OUTPUTS, PIPELINE_COUNTS, RAW_TOPICS, THROUGHPUT, ensure_topics
from deploy.services import FlinkCluster, KafkaBroker
from deploy.services.process import spawn, stop_group, tail
from deploy.services.settings import FlinkSettings
from pipeline.jobs.settings import PipelineSettings
from pipeline.runtime import JOB_SCRIPT, submit
from schemas.privacy import PrivacySettings

PARALLELISM = 2
REPO = Path(__file__).resolve().parent.parent
# (bound, whether the figure must be at least or at most it): issue 17's targets, and the earlier
# pipeline / raw ratio
TARGETS = {
    "job_events_per_s": (50_000, "at least"),
    "end_to_end_events_per_s": (30_000, "at least"),
    "ours_to_peer_ratio": (10, "at least"),
    "pipeline_to_raw_ratio": (0.3, "at least"),
    "freshness_p99_s_beyond_window_close": (2.0, "at most"),
    "freshness_p99_s_produced_to_queryable": (2.0, "at most"),
    "taskmanager_peak_rss_mb": (1536, "at most"),
}
LOADED_ROWS = re.compile(r"\bcrossings=(\d+)")


# -- raw limit ---------------------------------------------------------------------------------


def parse_consumer_performance(output: str) -> dict[str, float]:
    """The figures of ConsumerPerformance's report: a header line of names, then (after any
    warning) the line with as many values; the two time stamps are left out."""
    lines = output.splitlines()
    header = next((i for i, line in enumerate(lines) if line.startswith("start.time")), None)
    names = [] if header is None else [name.strip() for name in lines[header].split(",")]
    values = next((line.split(",") for line in lines[(header or 0) + 1 :] if len(line.split(",")) == len(names)), None)
    if header is None or values is None:
        raise ValueError(f"no ConsumerPerformance report in:\n{output[-2000:]}")
    return {name: float(value) for name, value in zip(names, values, strict=True) if not name.endswith(".time")}


def consumer_performance(bootstrap: str, topic: str, messages: int, jars: Path) -> dict[str, float]:
    """Kafka's own consumer benchmark reading `messages` records of `topic` from the start."""
    argv = [
        "java",
        "-Xmx512m",
        "-cp",
        f"{jars.resolve()}/*",
        "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--messages",
        str(messages),
        "--group",
        f"bench-raw-{uuid.uuid4()}",
        "--timeout",
        "30000",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"ConsumerPerformance on {topic} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    figures = parse_consumer_performance(done.stdout)
    if figures["data.consumed.in.nMsg"] < messages:
        raise RuntimeError(
            f"ConsumerPerformance read {figures['data.consumed.in.nMsg']:.0f} of {messages} "
            f"records of {topic}:\n{done.stdout[-2000:]}"
        )
    return figures


def raw_limit(bootstrap: str, per_topic: dict[str, int], jars: Path) -> dict:
    """Records/s of ConsumerPerformance over the raw topics one after the other: while fetching
    (`fetch.time.ms`, the limit) and including its group join."""
    runs = {topic: consumer_performance(bootstrap, topic, count, jars) for topic, count in sorted(per_topic.items())}
    messages = sum(run["data.consumed.in.nMsg"] for run in runs.values())
    fetch_s = sum(run["fetch.time.ms"] for run in runs.values()) / 1000
    total_s = sum(run["fetch.time.ms"] + run["rebalance.time.ms"] for run in runs.values()) / 1000
    return {
        "tool": "org.apache.kafka.tools.ConsumerPerformance",
        "messages": int(messages),
        "events_per_s": round(messages / fetch_s),
        "events_per_s_with_group_join": round(messages / total_s),
        "per_topic_events_per_s": {topic: round(run["fetch.nMsg.sec"]) for topic, run in runs.items()},
    }


# -- loader --------------------------------------------------------------------------------------


def loader_command(group: str, *options: str) -> list[str]:
    return [str(Path(sys.executable).parent / "crossings"), "load", "--group", group, *options]


def loaded_crossings(log_file: Path) -> int:
    """Rows the loader has inserted into `crossings`, from its last stats line."""
    counts = LOADED_ROWS.findall(log_file.read_text(errors="replace")) if log_file.exists() else []
    return int(counts[-1]) if counts else 0


def check_running(loader: subprocess.Popen, log_file: Path, cluster: FlinkCluster, job_id: str) -> bool:
    """True, or an error naming what stopped: the loader process or the job."""
    if loader.poll() is not None:
        raise RuntimeError(f"the loader exited ({loader.returncode}); see {log_file}:\n{tail(log_file)}")
    state = cluster.request(f"/jobs/{job_id}")["state"]
    if state in ("FAILED", "CANCELED", "FINISHED"):
        raise RuntimeError(f"the job is {state}; see {cluster.log_dir}")
    return True


def replay_load(bootstrap: str, folder: Path, timeout_s: float) -> dict:
    """A fresh loader (new group, new chdb) over the job's outputs until caught up, alone."""
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "CLICKHOUSE_DATA_PATH": str(folder / "chdb-replay")}
    done = subprocess.run(
        loader_command(f"bench-replay-{uuid.uuid4()}", "--once", "--json"),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, **env},
    )
    if done.returncode != 0:
        raise RuntimeError(f"the replay loader failed ({done.returncode}):\n{done.stderr[-2000:]}")
    stats = json.loads(done.stdout.strip().splitlines()[-1])
    clean = stats["rows_per_table"].get("crossings", 0)
    return {
        "rows": stats["rows"],
        "clean_rows": clean,
        "elapsed_s": stats["elapsed_s"],
        "rows_per_s": round(stats["rows"] / stats["elapsed_s"]),
        "events_per_s": round(clean / stats["elapsed_s"]),
    }


# -- freshness -----------------------------------------------------------------------------------


def queryable_at(commits: list[tuple[float, int]], offset: int) -> float | None:
    """When the committed offset (time-ordered `(time, committed)` samples) first passed `offset`."""
    index = bisect_right(commits, offset, key=lambda sample: sample[1])  # committed offsets only grow
    return commits[index][0] if index < len(commits) else None


def window_start_s(key: bytes) -> float:
    """The epoch second at which the 1-minute window of a throughput `window_key` opens."""
    return datetime.fromisoformat(key.decode().split("/")[0].replace("Z", "+00:00")).timestamp()


def summary(values: list[float]) -> dict:
    return {
        "measured": len(values),
        "p50": round(percentile(values, 0.5), 2) if values else None,
        "p99": round(percentile(values, 0.99), 2) if values else None,
        "max": round(max(values), 2) if values else None,
    }


class LiveOutputs(KafkaFollower):
    """Follows, from now on, the clean and throughput topics (read_committed, where each
    record is) and the loader group's committed offsets on them (when each advanced)."""

    def __init__(self, bootstrap: str, loader_group: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-live-{uuid.uuid4()}",
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
            }
        )
        self.loader = Consumer({"bootstrap.servers": bootstrap, "group.id": loader_group, "enable.auto.commit": False})
        self.partitions = [TopicPartition(spec.name, p) for spec in (CLEAN, THROUGHPUT) for p in range(spec.partitions)]
        now_ms = int(time.time() * 1000)
        starts = self.consumer.offsets_for_times(
            [TopicPartition(tp.topic, tp.partition, now_ms) for tp in self.partitions], timeout=30
        )
        self.consumer.assign(starts)
        self.clean_at: dict[str, tuple[int, int]] = {}
        self.windows: list[tuple[bytes, int, int, int]] = []
        self.commits: dict[tuple[str, int], list[tuple[float, int]]] = {}
        super().__init__(self.consumer, self.loader)

    def step(self) -> None:
        for message in self.consumer.consume(10_000, timeout=0.1):
            if message.error() or message.value() is None:
                continue
            where = (message.partition(), message.offset())
            if message.topic() == CLEAN.name:
                self.clean_at[orjson.loads(message.value())["event_id"]] = where
            else:
                value = orjson.loads(message.value())
                self.windows.append((window_key(value), value["crossings"], *where))
        now = time.time()
        for tp in self.loader.committed(self.partitions, timeout=10):
            samples = self.commits.setdefault((tp.topic, tp.partition), [])
            if tp.offset >= 0 and (not samples or tp.offset > samples[-1][1]):
                samples.append((now, tp.offset))

    def event_queryable_at(self, event_id: str) -> float | None:
        where = self.clean_at.get(event_id)
        return None if where is None else queryable_at(self.commits.get((CLEAN.name, where[0]), []), where[1])

    def window_final_at(self, key: bytes, final: int) -> float | None:
        """When the first throughput record of `key` counting `final` crossings was queryable."""
        for seen_key, crossings, partition, offset in list(self.windows):
            if seen_key == key and crossings >= final:
                return queryable_at(self.commits.get((THROUGHPUT.name, partition), []), offset)
        return None


def trickle(bootstrap: str, events, per_s: int, seconds: int) -> tuple[dict[str, float], Counter, float, float]:
    """Sends live copies of `events` at `per_s` for `seconds`: their produce times by event id,
    the events per throughput window key, and when the trickle started and ended."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
    produced: dict[str, float] = {}
    per_window: Counter = Counter()
    started = time.time()
    for sent, event in enumerate(islice(events, per_s * seconds)):
        time.sleep(max(0.0, started + sent / per_s - time.time()))
        event = live_copy(event)
        per_window[
            window_key(
                {
                    "window_start": event.released_at.strftime("%Y-%m-%dT%H:%M:00Z"),
                    "port_code": event.port_code,
                    "kind": event.kind.value,
                    "direction": event.direction.value,
                    "channel_type": event.channel_type.value,
                }
            )
        ] += 1
        produced[str(event.event_id)] = time.time()
        send(producer, event)
        producer.poll(0)
    ended = time.time()
    if producer.flush(60):
        raise RuntimeError("live events unacknowledged after 60 s")
    return produced, per_window, started, ended


def freshness(
    live: LiveOutputs, produced: dict[str, float], per_window: Counter, started: float, ended: float, timeout_s: float
) -> dict:
    """Produce-to-queryable per event; per 1-minute window that opened and closed during the
    trickle, seconds from its end until its final count was queryable (0 when before)."""
    wait_until(
        lambda: all(live.event_queryable_at(event_id) for event_id in produced),
        timeout_s,
        "every live event to be queryable",
    )
    closed = [key for key in per_window if started <= window_start_s(key) and window_start_s(key) + 60 <= ended]
    wait_until(
        lambda: all(live.window_final_at(key, per_window[key]) for key in closed),
        timeout_s,
        "the final counts of the live windows",
    )
    events = [live.event_queryable_at(event_id) - at for event_id, at in produced.items()]
    beyond = [max(0.0, live.window_final_at(key, per_window[key]) - (window_start_s(key) + 60)) for key in closed]
    return {
        "events": len(produced),
        "produced_to_queryable_s": summary(events),
        "windows": len(closed),
        "beyond_window_close_s": summary(beyond),
    }


# -- the run -------------------------------------------------------------------------------------


def checkpoints(cluster: FlinkCluster, job_id: str) -> dict:
    stats = cluster.request(f"/jobs/{job_id}/checkpoints")
    duration = stats["summary"]["end_to_end_duration"]
    return {
        "completed": stats["counts"]["completed"],
        "failed": stats["counts"]["failed"],
        "duration_ms_p50": duration.get("p50"),
        "duration_ms_p99": duration.get("p99"),
        "duration_ms_max": duration["max"],
        "state_bytes_max": stats["summary"]["state_size"]["max"],
    }


def memory(broker: KafkaBroker, cluster: FlinkCluster, loader_pid: int) -> dict:
    """Peak RSS of each process of each service."""
    roles = {
        "broker": broker.pid,
        "jobmanager": cluster.pids[0],
        "loader": loader_pid,
        **{f"taskmanager-{i}": pid for i, pid in enumerate(cluster.pids[1:], 1)},
    }
    return {role: peak_rss(pid) for role, pid in roles.items()}


def targets(measured: dict[str, float | None]) -> dict:
    """Each target with its figure and whether it is met; a figure not measured (None) is not."""

    def met(name: str) -> bool:
        bound, side = TARGETS[name]
        value = measured.get(name)
        return value is not None and (value >= bound if side == "at least" else value <= bound)

    return {
        name: {"target": f"{side} {bound}", "measured": measured.get(name), "met": met(name)}
        for name, (bound, side) in TARGETS.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2_000_000, help="backlog size")
    parser.add_argument("--live-rate", type=int, default=200, help="events/s of the freshness trickle")
    parser.add_argument("--live-s", type=int, default=150, help="length of the trickle (2 full minutes at least)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout-s", type=int, default=4 * 3600, help="for the backlog to be processed")
    parser.add_argument("--results", type=Path, default=RESULTS, help="history to append the result to")
    parser.add_argument("--no-peer", action="store_true", help="skip the Quix Streams peer")
    parser.add_argument(
        "--taskmanager-memory",
        default=FlinkSettings().taskmanager_memory,
        help="of each TaskManager (the dedup state of a backlog is in RocksDB, off-heap)",
    )
    args = parser.parse_args()
    if args.live_s < 120:
        parser.error("--live-s must be at least 120: a 1-minute window must open and close during the trickle")
    pipeline = PipelineSettings()
    load_average = os.getloadavg()[0]  # other work on the machine skews every figure
    kafka = KafkaSettings()

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-pipeline-")))
        broker = stack.enter_context(KafkaBroker(KafkaSettings(data_dir=folder / "kafka")))
        bootstrap = broker.bootstrap
        cluster = stack.enter_context(
            FlinkCluster(
                FlinkSettings(
                    data_dir=folder / "flink",
                    taskmanagers=1,
                    slots_per_taskmanager=PARALLELISM,
                    taskmanager_memory=args.taskmanager_memory,
                ),
                PrivacySettings(),
            )
        )
        ensure_topics(bootstrap, [*RAW_TOPICS.values(), *JOB_OUTPUTS])

        loader_group = f"bench-loader-{uuid.uuid4()}"
        loader_log = folder / "loader.log"
        loader = spawn(
            loader_command(loader_group, "--stats-interval", "1"),
            loader_log,
            {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "CLICKHOUSE_DATA_PATH": str(folder / "chdb")},
        )
        stack.callback(stop_group, loader.pid)

        events = simulated(args.events + args.live_rate * args.live_s, args.seed)
        produce_started = time.perf_counter()
        with CrossingProducer(bootstrap) as producer:
            producer.send_all(islice(events, args.events))
        produce_rate = rate(args.events, produce_started)

        upserts = stack.enter_context(CommittedUpserts(bootstrap, [PIPELINE_COUNTS.name]))
        submitted = time.monotonic()
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

        def running() -> bool:
            return check_running(loader, loader_log, cluster, job_id)

        first = wait_until(
            lambda: running() and upserts.received() > 0, args.timeout_s, "the job's first committed counts"
        )
        first_count = upserts.received()
        done = wait_until(
            lambda: running() and upserts.received() >= args.events, args.timeout_s, "the job over the backlog"
        )
        job_rate = round((args.events - first_count) / max(done - first, 1e-9))
        clean = sum(row["clean"] for row in list(upserts.latest[PIPELINE_COUNTS.name].values()))
        wait_until(
            lambda: running() and loaded_crossings(loader_log) >= clean, args.timeout_s, "the loader over the backlog"
        )
        end_to_end = round(args.events / (time.perf_counter() - produce_started))

        with LiveOutputs(bootstrap, loader_group) as live:
            produced, per_window, started, ended = trickle(bootstrap, events, args.live_rate, args.live_s)
            fresh = freshness(live, produced, per_window, started, ended, 300)
        fresh["rate_per_s"] = args.live_rate

        checkpointing = checkpoints(cluster, job_id)
        rss = memory(broker, cluster, loader.pid)
        stop_group(loader.pid)
        cluster.stop()
        load = replay_load(bootstrap, folder, args.timeout_s)
        raw = raw_limit(bootstrap, dict(producer.sent), kafka.jars_dir)
        peer = None
        if not args.no_peer:
            grace_ms = (pipeline.out_of_orderness_s + pipeline.allowed_lateness_s) * 1000
            try:
                report = run_peer(
                    bootstrap, args.events + len(produced), folder, grace_ms, pipeline.skew_tolerance_s, args.timeout_s
                )
                peer = peer_section(report, compare(report, job_windows(bootstrap)), job_rate)
            except RuntimeError as error:  # the pipeline's figures of this long run are kept all the same
                peer = {"error": str(error)}

    ratio = round(end_to_end / raw["events_per_s"], 4)
    document = {
        "benchmark": "pipeline",
        "events": args.events,
        "parallelism": PARALLELISM,
        "taskmanager_memory": args.taskmanager_memory,
        "events_per_s": {
            "produce": produce_rate,
            "job": job_rate,
            "load": load["events_per_s"],
            "end_to_end": end_to_end,
        },
        "job_startup_s": round(first - submitted, 1),
        "clean_events": clean,
        "load_replay": load,
        "raw_limit": raw,
        "pipeline_to_raw_ratio": ratio,
        "freshness": fresh,
        **({} if peer is None else {"peer": peer}),
        "checkpoint_interval_s": pipeline.checkpoint_interval_s,
        "state_backend": pipeline.state_backend,
        "incremental_checkpoints": pipeline.incremental_checkpoints,
        "checkpoints": checkpointing,
        "peak_rss_mb": rss,
        "targets": targets(
            {
                "job_events_per_s": job_rate,
                "end_to_end_events_per_s": end_to_end,
                "ours_to_peer_ratio": (peer or {}).get("ours_to_peer_ratio"),
                "pipeline_to_raw_ratio": ratio,
                "freshness_p99_s_beyond_window_close": fresh["beyond_window_close_s"]["p99"],
                "freshness_p99_s_produced_to_queryable": fresh["produced_to_queryable_s"]["p99"],
                "taskmanager_peak_rss_mb": max(
                    row["peak_rss_mb"] for role, rows in rss.items() if role.startswith("taskmanager") for row in rows
                ),
            }
        ),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m": {"start": round(load_average, 1), "end": round(os.getloadavg()[0], 1)},
        },
    }
    print(json.dumps(document, indent=2))
    append_result(args.results, document, REPO)
    if peer is not None and "error" in peer:
        sys.exit(f"the peer failed (the pipeline's figures are recorded): {peer['error']}")


if __name__ == "__main__":
    main()
