"""What every chaos scenario shares: its own services, the job, the loader, sending the input,
waiting for the outputs, and the final ClickHouse state compared to a recomputation.

A `Run` starts, in a folder of its own, a Kafka broker, a standalone Flink cluster (or uses
the one given), the crossings job submitted as `crossings job submit` does (unbounded, with the
default delivery guarantee unless the scenario sets one, checkpoints every
`CHECKPOINT_INTERVAL_S`), a follower of the job's committed counts and
the loader as a subprocess into chdb in the folder. Everything it started is stopped when the
`with` block ends, on error and on Ctrl-C too.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Message

from bench.chaos.expected import Expected, RawRecord, produce, recompute
from bench.chaos.inputs import CLEAR_IDENTIFIERS, chaos_input
from connectors.kafka.settings import KafkaSettings
from connectors.kafka.topics import CLEAN, JOB_OUTPUTS, PIPELINE_COUNTS, RAW_TOPICS, ensure_topics
from deploy.services import FlinkCluster, KafkaBroker
from deploy.services.settings import FlinkSettings
from pipeline.runtime import JOB_SCRIPT, submit
from schemas.events import parse_crossing
from schemas.privacy import PrivacySettings

REPO = Path(__file__).resolve().parents[2]
CROSSINGS = Path(sys.executable).parent / "crossings"
PARALLELISM = 2
CHECKPOINT_INTERVAL_S = 2
LOADER_GROUP = "chaos-loader"
STATS_LINE = re.compile(r"loaded (\d+) rows .*; lag (\d+);")
COUNT_FIGURES = ("received", "clean", "dead_letters", "duplicates", "too_late")


class ChaosError(RuntimeError):
    """A run could not reach the point where its state can be checked (what, and the log)."""


@dataclass(frozen=True)
class Options:
    """Sizes and durations of the runs."""

    events: int = 3000
    seed: int = 1
    send_s: float = 40.0  # the input is sent evenly over this long
    fault_at: float = 1 / 3  # share of the input sent when the fault starts
    outage_s: float = 30.0  # ClickHouse inserts fail this long
    loader_max_poll_interval_s: int = 10  # in the outage that outlasts it
    webhook_down_s: float = 40.0  # the alerts' webhook answers 503 this long
    dispatcher_max_poll_interval_s: int = 10  # shorter than the webhook's outage
    broker_down_s: float = 10.0
    loader_crash_after: int = 8  # the loader kills itself after this many inserts
    cluster_down_s: float = 60.0  # the whole Flink cluster is down this long
    transaction_max_timeout_s: int = 180  # the broker's, in the scenario that outlasts the job's old one
    wait_s: float = 240.0  # the longest any one wait may take
    keep: bool = False  # keep the run folders (logs, data) for inspection

    def fast(self) -> Options:
        return replace(self, events=1000, send_s=20.0, outage_s=10.0, broker_down_s=5.0, loader_crash_after=5)


@dataclass
class Outcome:
    """One row of the table."""

    scenario: str
    events_in: int = 0
    clean: int = 0
    dead_letters: int = 0
    duplicates_dropped: int = 0
    too_late: int = 0
    windows_checked: int = 0
    mismatches: int | None = None
    recover_s: float | None = None
    elapsed_s: float = 0.0
    notes: list[str] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)  # found by the scenario itself, beyond the state's
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.mismatches == 0


def wait_for(
    condition: Callable[[], object],
    what: str | Callable[[], str],
    timeout_s: float,
    alive: Callable[[], None] | None = None,
    every_s: float = 0.5,
) -> object:
    """The first true value of `condition()`; ChaosError after `timeout_s` saying `what` (or
    what `what()` says then). `alive()` may raise to stop the wait early (a process it needs died)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        if alive is not None:
            alive()
        time.sleep(every_s)
    raise ChaosError(f"timed out after {timeout_s:.0f} s waiting for {what() if callable(what) else what}")


class CommittedCounts:
    """Follows the job's reconciliation counts as readers see them (read_committed) in a
    thread: the latest value per key, and when each total of `received` was first seen."""

    def __init__(self, bootstrap: str) -> None:
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": "chaos-follower",
                "isolation.level": "read_committed",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "log_level": 0,
            }
        )
        self.consumer.subscribe([PIPELINE_COUNTS.name])
        self.latest: dict[bytes, int] = {}
        self.history: list[tuple[float, int]] = [(time.monotonic(), 0)]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._follow, name="chaos-counts", daemon=True)

    def __enter__(self) -> CommittedCounts:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.thread.join(10)
        self.consumer.close()

    def _follow(self) -> None:
        while not self.stopping.is_set():
            messages = self.consumer.consume(1000, timeout=0.2)
            for message in messages:
                if message.error():
                    continue
                if message.value() is None:
                    self.latest.pop(message.key(), None)
                else:
                    self.latest[message.key()] = json.loads(message.value())["received"]
            if messages:
                self.history.append((time.monotonic(), sum(self.latest.values())))

    def received(self) -> int:
        return self.history[-1][1]

    def advanced_after(self, at: float) -> float | None:
        """When the total first went beyond all it had reached by `at`, or None."""
        history = list(self.history)
        reached = max(total for seen, total in history if seen <= at)
        return next((seen for seen, total in history if seen > at and total > reached), None)


class LoaderProcess:
    """A loader subprocess (`crossings load` or a variant): its stats lines are read as they
    come (stamped with the monotonic clock) and copied to `log_file`."""

    def __init__(self, argv: list[str], env: Mapping[str, str], log_file: Path) -> None:
        self.argv, self.env, self.log_file = argv, env, log_file
        self.lines: list[tuple[float, str]] = []
        self.process: subprocess.Popen | None = None
        self.reader: threading.Thread | None = None

    def start(self, extra_env: Mapping[str, str] | None = None) -> LoaderProcess:
        self.process = subprocess.Popen(
            self.argv,
            cwd=REPO,
            env={**self.env, **(extra_env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.reader = threading.Thread(target=self._read, args=(self.process,), name="chaos-loader", daemon=True)
        self.reader.start()
        return self

    def _read(self, process: subprocess.Popen) -> None:
        with self.log_file.open("a") as log:
            for line in process.stderr:
                self.lines.append((time.monotonic(), line))
                log.write(line)
                log.flush()

    def returncode(self) -> int | None:
        return self.process.poll()

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise ChaosError(
                f"the loader exited with {self.process.returncode}; see {self.log_file}:\n"
                + "".join(line for _, line in self.lines[-15:])
            )

    def caught_up_after(self, at: float) -> float | None:
        """When the loader, having loaded rows, first reported a lag of 0 after `at`."""
        for seen, line in list(self.lines):
            match = STATS_LINE.search(line)
            if seen > at and match and int(match[1]) > 0 and int(match[2]) == 0:
                return seen
        return None

    def said(self, text: str) -> bool:
        """Whether a line of its output so far holds `text`."""
        return any(text in line for _, line in list(self.lines))

    def last_stats(self) -> str:
        return next((line.strip() for _, line in reversed(self.lines) if STATS_LINE.search(line)), "none")

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def stop(self) -> None:
        """SIGTERM (it inserts and commits what it has read, then exits), SIGKILL after 60 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.reader.join(10)


class Run:
    """The services of one scenario, in `folder`; `cluster` given = use it instead of starting one."""

    def __init__(
        self,
        name: str,
        options: Options,
        folder: Path,
        cluster: FlinkCluster | None = None,
        job_env: Mapping[str, str] | None = None,
        kafka: Mapping[str, object] | None = None,
    ) -> None:
        self.name, self.options, self.folder = name, options, folder
        self.cluster = cluster
        self.job_env, self.kafka = dict(job_env or {}), dict(kafka or {})
        self.stack = ExitStack()
        self.broker: KafkaBroker | None = None
        self.counts: CommittedCounts | None = None
        self.loader: LoaderProcess | None = None
        self.job_id: str | None = None
        self.restored_at: float | None = None  # when the job was seen restored after a crash
        self.recovered_at: float | None = None  # when a scenario's own recovery was seen
        self.sent = [0]

    def __enter__(self) -> Run:
        try:
            self.broker = self.stack.enter_context(
                KafkaBroker(KafkaSettings(data_dir=self.folder / "kafka", **self.kafka))
            )
            ensure_topics(self.bootstrap, [*RAW_TOPICS.values(), *JOB_OUTPUTS])
            if self.cluster is None:
                self.cluster = self.stack.enter_context(
                    FlinkCluster(
                        FlinkSettings(
                            data_dir=self.folder / "flink", taskmanagers=PARALLELISM, slots_per_taskmanager=1
                        ),
                        PrivacySettings(),
                    )
                )
            self.submit()
            self.counts = self.stack.enter_context(CommittedCounts(self.bootstrap))
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stack.close()

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    @property
    def checkpoint_dir(self) -> Path:
        return self.folder / "checkpoints"

    def submit(self, from_checkpoint: Path | None = None) -> None:
        """Submit the job (from a retained checkpoint's folder, if given); returns at its first
        checkpoint."""
        env = {
            "PIPELINE_CHECKPOINT_DIR": str(self.checkpoint_dir),
            "PIPELINE_CHECKPOINT_INTERVAL_S": str(CHECKPOINT_INTERVAL_S),
            "PIPELINE_CONSUMER_GROUP": f"chaos-{self.name}",
            "PIPELINE_TRANSACTIONAL_ID_PREFIX": f"chaos-{self.name}",
            **self.job_env,
        }
        output = submit(
            JOB_SCRIPT,
            ["--bootstrap", self.bootstrap],
            self.cluster.rest_url,
            PARALLELISM,
            300,
            flink=self.cluster.settings,
            detached=True,
            env=env,
            from_savepoint=str(from_checkpoint) if from_checkpoint else None,
        )
        match = re.search(r"JobID ([0-9a-f]{32})", output)
        if match is None:
            raise ChaosError(f"no job id in the submission's output:\n{output[-2000:]}")
        if self.job_id is None:
            self.stack.callback(self._cancel)
        self.job_id = match[1]
        wait_for(
            lambda: self.checkpoints()["counts"]["completed"] > 0, "the job's first checkpoint", self.options.wait_s
        )

    def latest_checkpoint(self) -> Path:
        """The folder of the job's newest checkpoint on disk (its `_metadata` written)."""
        written = list((self.checkpoint_dir / self.job_id).glob("chk-*/_metadata"))
        if not written:
            raise ChaosError(f"no checkpoint of job {self.job_id} in {self.checkpoint_dir}")
        return max(written, key=lambda path: int(path.parent.name.removeprefix("chk-"))).parent

    def _cancel(self) -> None:
        try:
            self.cluster.request(f"/jobs/{self.job_id}?mode=cancel", method="PATCH")
            wait_for(
                lambda: self.cluster.request(f"/jobs/{self.job_id}")["state"] in {"CANCELED", "FAILED", "FINISHED"},
                "the job to stop",
                60,
            )
        except (OSError, ValueError, ChaosError):
            pass  # the cluster is stopped next anyway (or is not ours and was stopped)

    def checkpoints(self) -> dict:
        return self.cluster.request(f"/jobs/{self.job_id}/checkpoints")

    def loader_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "CLICKHOUSE_DATA_PATH": str(self.folder / "chdb"),
            "LOADER_GROUP_ID": LOADER_GROUP,
            "PYTHONPATH": str(REPO),
        }

    def start_process(self, argv: list[str], log_name: str, env: Mapping[str, str]) -> LoaderProcess:
        """A service of the run other than the loader, stopped with the run."""
        process = LoaderProcess(argv, {**self.loader_env(), **env}, self.folder / log_name).start()
        self.stack.callback(process.stop)
        return process

    def start_loader(self, argv: list[str] | None = None, extra_env: Mapping[str, str] | None = None) -> LoaderProcess:
        """`crossings load` (or `argv`) with stats lines every half second."""
        argv = argv or [str(CROSSINGS), "load", "--stats-interval", "0.5"]
        self.loader = LoaderProcess(argv, self.loader_env(), self.folder / "loader.log").start(extra_env)
        self.stack.callback(self.loader.stop)
        return self.loader

    def send(self, records: list[RawRecord]) -> threading.Thread:
        """Sends `records` evenly over `options.send_s` in a thread; `self.sent[0]` counts them."""
        self.send_error: BaseException | None = None

        def sending() -> None:
            try:
                produce(self.bootstrap, records, len(records) / self.options.send_s, self.sent, quiet=True)
            except BaseException as error:  # reported by `finish_sending`
                self.send_error = error

        thread = threading.Thread(target=sending, name="chaos-send", daemon=True)
        thread.start()
        return thread

    def finish_sending(self, thread: threading.Thread) -> None:
        thread.join(self.options.send_s + self.options.wait_s)
        if thread.is_alive():
            raise ChaosError("sending the input did not finish")
        if self.send_error is not None:
            raise ChaosError(f"sending the input failed: {self.send_error}") from self.send_error

    def final_state(self) -> dict:
        """The warehouse's final state (`bench.chaos.state`), read once the loader has stopped."""
        result = subprocess.run(
            [sys.executable, "-m", "bench.chaos.state"],
            cwd=REPO,
            env=self.loader_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise ChaosError(f"reading the final state failed:\n{result.stderr[-3000:]}")
        return json.loads(result.stdout)


def run_scenario(scenario, options: Options, cluster: FlinkCluster | None = None) -> Outcome:
    """One scenario from its own input to its row of the table (with `error` if it could not
    be checked)."""
    outcome = Outcome(scenario.name)
    started = time.monotonic()
    records, now = chaos_input(options.events, options.seed)
    expected = recompute(records, now)
    outcome.events_in = len(records)
    folder = Path(tempfile.mkdtemp(prefix=f"chaos-{scenario.name}-"))
    try:
        with Run(
            scenario.name,
            options,
            folder,
            None if scenario.own_cluster else cluster,
            scenario.job_env(options),
            scenario.kafka(options),
        ) as run:
            ready = time.monotonic()
            scenario.start_loader(run, options)
            sending = run.send(records)
            wait_for(
                lambda: run.sent[0] >= len(records) * options.fault_at, "the input to be part sent", options.wait_s
            )
            fault_end = scenario.inject(run, options, outcome)
            run.finish_sending(sending)
            completed = run.checkpoints()["counts"]["completed"]
            produce(run.bootstrap, [poison_row(records)])
            # exactly once, the loader reads past the row once the transaction open beside it commits
            wait_for(
                lambda: run.checkpoints()["counts"]["completed"] > completed,
                "a checkpoint after the poison row",
                options.wait_s,
            )
            sent = time.monotonic()
            wait_for(
                lambda: run.counts.received() >= len(records),
                "the job's committed counts to cover the input",
                options.wait_s,
            )
            complete = time.monotonic()
            caught_up = wait_for(
                lambda: run.loader.caught_up_after(complete),
                lambda: f"the loader to catch up; its last stats: {run.loader.last_stats()}",
                options.wait_s,
                run.loader.check_alive,
            )
            outcome.recover_s = scenario.recovery(run, fault_end)
            outcome.notes.append(
                f"services and job ready {ready - started:.0f} s, input sent {sent - ready:.0f} s, "
                f"job done {complete - sent:.0f} s and loader {caught_up - complete:.0f} s later"
            )
            run.loader.stop()
            state = run.final_state()
            outcome.differences += clear_identifiers_in_topics(run.bootstrap)
        compare(outcome, expected, state)
    except Exception as error:  # the other scenarios still run; the row says what went wrong
        outcome.error = f"{type(error).__name__}: {error}"
    finally:
        outcome.elapsed_s = round(time.monotonic() - started, 1)
        if options.keep or outcome.error:
            outcome.notes.append(f"run folder kept: {folder}")
        else:
            subprocess.run(["rm", "-rf", str(folder)], check=False)
    return outcome


def poison_row(records: list[RawRecord]) -> RawRecord:
    """A clean event ClickHouse refuses (a number where the table takes a UUID), written to the
    clean topic as if by the job: the loader must record it in load_rejects and go on."""
    event = next(json.loads(record.value) for record in records if _is_valid(record.value))
    return RawRecord(CLEAN.name, event["port_code"].encode(), json.dumps({**event, "event_id": 40404}).encode())


def _is_valid(value: bytes) -> bool:
    try:
        parse_crossing(value)
    except ValueError:
        return False
    return True


def clear_identifiers_in_topics(bootstrap: str) -> list[str]:
    """A difference for each output record holding a clear identifier of the input."""
    found = []
    for message in read_topics(bootstrap, [spec.name for spec in JOB_OUTPUTS]):
        text = (message.key() or b"") + (message.value() or b"")
        found += [
            f"{identifier} in {message.topic()}[{message.partition()}]@{message.offset()}"
            for identifier in CLEAR_IDENTIFIERS
            if identifier.encode() in text
        ]
    return found


def read_topics(bootstrap: str, topics: list[str]) -> Iterator[Message]:
    """Every record of `topics` (read_committed), from the start to the end of each partition."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"chaos-read-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe(topics)
    partitions = sum(spec.partitions for spec in JOB_OUTPUTS + list(RAW_TOPICS.values()) if spec.name in topics)
    at_end: set[tuple[str, int]] = set()
    try:
        while len(at_end) < partitions:
            message = consumer.poll(10.0)
            if message is None:
                raise ChaosError(f"reading {', '.join(topics)} got no answer for 10 s")
            if message.error():
                if message.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add((message.topic(), message.partition()))
                continue
            yield message
    finally:
        consumer.close()


def compare(outcome: Outcome, expected: Expected, state: dict) -> None:
    """Fills `outcome` from the warehouse's state; every key whose value differs from the
    recomputation (or is missing on one side) is one mismatch, described in the notes."""
    counts = {name: int(state["pipeline_counts"][0][name] or 0) for name in COUNT_FIGURES}
    outcome.clean, outcome.dead_letters = counts["clean"], counts["dead_letters"]
    outcome.duplicates_dropped, outcome.too_late = counts["duplicates"], counts["too_late"]
    differences = list(outcome.differences)

    def check(what: str, got: Mapping, want: Mapping, equal=lambda g, w: g == w) -> None:
        for key in sorted(got.keys() | want.keys(), key=repr):
            if key not in got or key not in want or not equal(got[key], want[key]):
                differences.append(f"{what} {key}: ClickHouse {got.get(key)}, recomputed {want.get(key)}")

    want_counts = {
        "received": expected.received,
        "clean": len(expected.clean_ids),
        "dead_letters": sum(expected.dead_letter_classes.values()),
        "duplicates": expected.duplicates,
        "too_late": expected.too_late,
    }
    check("pipeline_counts", counts, want_counts)
    if counts["received"] != counts["clean"] + counts["dead_letters"] + counts["duplicates"]:
        differences.append(f"pipeline_counts do not reconcile: {counts}")
    check(
        "crossings",
        {(r["port_code"], r["kind"], r["direction"]): int(r["crossings"]) for r in state["crossings"]},
        dict(expected.clean_per_group),
    )
    check(
        "dead letters",
        Counter({r["class"]: int(r["letters"]) for r in state["dead_letters"]}),
        expected.dead_letter_classes,
    )
    throughput = {
        (_iso(r["window_start"]), r["port_code"], r["kind"], r["direction"], r["channel_type"]): int(r["crossings"])
        for r in state["throughput"]
    }
    check("throughput window", throughput, expected.throughput)
    clearance = {
        (_iso(r["window_start"]), r["port_code"], r["kind"], r["direction"]): (
            int(r["crossings"]),
            *(float(r[k]) for k in ("mean_s", "p50_s", "p90_s", "p99_s", "max_s")),
        )
        for r in state["clearance"]
    }
    check("clearance window", clearance, expected.clearance, _close)
    outcome.windows_checked = len(throughput.keys() | expected.throughput.keys()) + len(
        clearance.keys() | expected.clearance.keys()
    )
    rejects = {(row["table_name"], row["topic"]): int(row["rows"]) for row in state["load_rejects"]}
    check("load_rejects", rejects, {("crossings", CLEAN.name): 1})
    check("clear identifiers in tables", {k: v for k, v in state["clear_identifiers"].items() if v}, {})
    loaded = state["loaded"][0]
    outcome.notes.append(f"crossings rows inserted {int(loaded['rows'])} for {int(loaded['events'])} events")
    outcome.mismatches = len(differences)
    outcome.notes.extend(differences[:20])


def _iso(clickhouse_time: str) -> str:
    """'2024-05-01 08:00:00' (a UTC DateTime as text) as the job's '2024-05-01T08:00:00Z'."""
    return clickhouse_time.replace(" ", "T") + "Z"


def _close(got: tuple, want: tuple) -> bool:
    return got[0] == want[0] and all(math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-6) for g, w in zip(got[1:], want[1:]))
