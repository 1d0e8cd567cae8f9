"""`crossings demo`: the whole pipeline on one machine, on embedded defaults, for a simulated
period fast-forwarded, with a live board; then a summary and the offline report.

Started here, and stopped here whatever happens: a Kafka broker of its own (formatted anew
in `<work dir>/kafka` on free ports), the crossings job and the forecast job in local
mini-clusters (child process groups), and in this process the simulator's producer, the loader
into the embedded warehouse and the alert dispatcher (threads). The forecast's profiles are
learnt from the days before the period in the warehouse; normal simulated days are written
there first where it has none (`history.py`). The warehouse is the configured one
(`CLICKHOUSE_DATA_PATH`), so `crossings sql` answers from it afterwards; chdb allows one
session per process, which the loader and the board share.

The simulated period ends at the last Shenzhen midnight, so no event lies in the future (the
job sends events ahead of the clock to dead letters).
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from connectors.alerts.dispatcher import Dispatcher
from connectors.alerts.settings import AlertSettings
from connectors.clickhouse import Warehouse, open_warehouse
from connectors.clickhouse.base import SharedWarehouse
from connectors.clickhouse.loader import Loader
from connectors.clickhouse.migrations import migrate
from connectors.clickhouse.settings import ClickHouseSettings, LoaderSettings
from connectors.kafka.producer import CrossingProducer
from connectors.kafka.settings import KafkaSettings
from connectors.kafka.topics import FORECAST_JOB_OUTPUTS, JOB_OUTPUTS, RAW_TOPICS, ensure_topics
from connectors.sources.simulator import SimulatorSource, simulated_period
from deploy.services import KafkaBroker
from deploy.services.process import stop_group, tail
from grafana.dashboards.ops_centre.forecast import EARLY_WARNINGS
from grafana.dashboards.ops_centre.health import RECORD_COUNTS
from grafana.macros import TimeRange, expand
from grafana.panels import every_value
from grafana.report import describe, write_report
from grafana.settings import GrafanaSettings
from pipeline.demo.board import Snapshot, take_snapshot
from pipeline.demo.history import history_days, seed_history
from pipeline.jobs.forecast_profile import learn_from_warehouse
from pipeline.runtime import FORECAST_JOB_SCRIPT, JOB_SCRIPT, start_local
from pipeline.transforms.forecast import profiles_to_json
from schemas.ports import SHENZHEN_TZ
from schemas.privacy import PrivacySettings, Pseudonymiser

log = logging.getLogger(__name__)
QUERIES = Path(__file__).resolve().parents[2] / "sql" / "queries"


class DemoError(RuntimeError):
    """A part of the demo failed; the message says which and where its log is."""


@dataclass(frozen=True)
class DemoOptions:
    sim_hours: float = 24.0
    speed: float = 240.0
    scenario: str = "demo-day"
    scale: float = 0.1
    seed: int = 1
    history_days: int = 3  # past days the forecast's profiles are learnt from
    work_dir: Path = Path("var/demo")
    refresh_s: float = 2.0
    startup_timeout_s: float = 300.0  # until the job has counted its first event
    stall_timeout_s: float = 120.0  # after the simulator ended, with no more events counted

    @property
    def report(self) -> Path:
        return self.work_dir / "report.html"

    @property
    def profiles(self) -> Path:
        return self.work_dir / "forecast" / "profiles.json"


@dataclass
class DemoSummary:
    """What the demo did, printed at its end (`as_dict()` is the `--json` output)."""

    scenario: str
    period: tuple[str, str]
    days: tuple[str, str]  # the first and last Shenzhen local day of the period
    speed: float
    scale: float
    produced: int = 0
    produced_by_port: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    ports: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)  # clearance spikes
    early_warnings: list[dict] = field(default_factory=list)  # forecast episodes, with their advice
    forecasts: int = 0  # forecast rows in the warehouse (port, kind, direction, minute, horizon)
    elapsed_s: float = 0.0
    interrupted: bool = False
    report: str | None = None
    warehouse: str = ""
    logs: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Worker(threading.Thread):
    """A daemon thread that keeps the exception its target raised, for the main loop."""

    def __init__(self, name: str, target: Callable[[], object]) -> None:
        super().__init__(name=name, daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as error:  # reported by the main loop
            self.error = error


class JobProcess:
    """A job script in the local mini-cluster, in a process group of its own."""

    def __init__(self, name: str, script: Path, args: list[str], work_dir: Path) -> None:
        self.name = name
        self.log_path = work_dir / "logs" / f"{name.replace(' ', '-')}.log"
        self.process = start_local(
            script,
            [*args, "--parallelism", "1"],
            self.log_path,
            {"PIPELINE_CHECKPOINT_DIR": str(work_dir / "checkpoints")},
        )

    def check(self) -> None:
        if self.process.poll() is not None:
            raise DemoError(
                f"the {self.name} stopped (exit {self.process.returncode}): see {self.log_path}\n" + tail(self.log_path)
            )

    def stop(self) -> None:
        stop_group(self.process.pid, grace_s=15)


class Demo:
    """One run: `run(show)` calls `show(snapshot)` at each refresh and returns the summary."""

    def __init__(self, options: DemoOptions, stop: threading.Event | None = None) -> None:
        self.options = options
        self.start, self.end = simulated_period(options.sim_hours)
        self.source = SimulatorSource(
            self.start,
            options.sim_hours,
            seed=options.seed,
            scenario=options.scenario,
            scale=options.scale,
            scale_lanes=True,
            speed=options.speed,
            pseudonymiser=Pseudonymiser.from_settings(PrivacySettings()),
        )
        self.stop = stop or threading.Event()  # set by Ctrl-C, SIGTERM or SIGHUP: the run ends, summarised
        self.produced = 0
        self._forecasts_seen = 0
        self.producer_started: float | None = None
        last_day = (self.end - timedelta(seconds=1)).astimezone(SHENZHEN_TZ).date()
        self.summary = DemoSummary(
            options.scenario,
            (self.start.isoformat(), self.end.isoformat()),
            (self.start.date().isoformat(), last_day.isoformat()),
            options.speed,
            options.scale,
        )

    def sim_now(self) -> datetime:
        """The simulator's clock: event time runs at `speed` from the first event produced."""
        if self.producer_started is None:
            return self.start
        elapsed = (time.monotonic() - self.producer_started) * self.options.speed
        return min(self.end, self.start + timedelta(seconds=elapsed))

    def run(self, show: Callable[[Snapshot], None]) -> DemoSummary:
        options = self.options
        for stale in ("kafka", "checkpoints"):
            shutil.rmtree(options.work_dir / stale, ignore_errors=True)
        (options.work_dir / "logs").mkdir(parents=True, exist_ok=True)
        wall_start = datetime.now(UTC)
        started = time.monotonic()
        clickhouse = ClickHouseSettings()
        with ExitStack() as stack:
            warehouse = stack.enter_context(SharedWarehouse(open_warehouse(clickhouse)))
            migrate(warehouse, clickhouse)
            broker = stack.enter_context(
                KafkaBroker(
                    KafkaSettings(
                        bootstrap_servers=None, port=0, controller_port=0, data_dir=options.work_dir / "kafka"
                    )
                )
            )
            self._learn_profiles(warehouse)
            ensure_topics(broker.bootstrap, [*RAW_TOPICS.values(), *JOB_OUTPUTS, *FORECAST_JOB_OUTPUTS])
            job = JobProcess("job", JOB_SCRIPT, ["--bootstrap", broker.bootstrap], options.work_dir)
            stack.callback(job.stop)
            forecast_job = JobProcess(
                "forecast job",
                FORECAST_JOB_SCRIPT,
                ["--bootstrap", broker.bootstrap, "--profile", str(options.profiles)],
                options.work_dir,
            )
            stack.callback(forecast_job.stop)
            loader = Loader(broker.bootstrap, warehouse, LoaderSettings(), stop=self.stop, stats_interval_s=5)
            dispatcher = Dispatcher(broker.bootstrap, AlertSettings(), stop=self.stop)
            producer = _Worker("producer", lambda: self._produce(broker.bootstrap))
            workers = [_Worker("loader", loader.run), _Worker("dispatcher", dispatcher.run), producer]
            for worker in workers:
                worker.start()
            stack.callback(lambda: [worker.join(timeout=30) for worker in workers])
            stack.callback(self.stop.set)  # first on the way out: the threads end before the job and broker
            drained_since = None
            progress = (-1, time.monotonic())  # (received, when it last grew)
            while True:
                if self.stop.is_set():
                    self.summary.interrupted = True
                    break
                job.check()
                forecast_job.check()
                for worker in workers:
                    if worker.error is not None:
                        raise DemoError(f"the {worker.name} failed: {worker.error}") from worker.error
                snapshot = take_snapshot(
                    warehouse,
                    self.start,
                    self.sim_now(),
                    wall_start,
                    datetime.now(UTC),
                    speed=options.speed,
                    produced=self.produced,
                    consumer_lag=loader.stats.total_lag,
                )
                show(snapshot)
                received = snapshot.counts["received"]
                if received > progress[0]:
                    progress = (received, time.monotonic())
                if received == 0 and time.monotonic() - started > options.startup_timeout_s:
                    raise DemoError(
                        f"the job counted no event within {options.startup_timeout_s:.0f} s; see {job.log_path}"
                    )
                if not producer.is_alive():
                    if received >= self.produced and snapshot.consumer_lag == 0:
                        drained_since = drained_since or time.monotonic()
                        if time.monotonic() - drained_since >= 3 * options.refresh_s and self._forecast_done(warehouse):
                            break  # every event counted and forecast from, the loader stayed caught up
                        if time.monotonic() - drained_since > options.stall_timeout_s:
                            raise DemoError(
                                f"the forecast job's forecasts did not settle within {options.stall_timeout_s:.0f} s "
                                "of the last event counted; see "
                                f"{forecast_job.log_path}"
                            )
                    elif received and time.monotonic() - progress[1] > options.stall_timeout_s:
                        raise DemoError(
                            f"the pipeline made no progress for {options.stall_timeout_s:.0f} s "
                            f"({received:,} of {self.produced:,} events counted); see "
                            f"{options.work_dir / 'logs'}"
                        )
                self.stop.wait(options.refresh_s)
            self.stop.set()
            self.summary.elapsed_s = round(time.monotonic() - started, 1)
            self._summarise(warehouse, wall_start, clickhouse)
        self.summary.logs = str(options.work_dir / "logs")
        return self.summary

    def _forecast_done(self, warehouse: Warehouse) -> bool:
        """Whether the forecast job has issued forecasts of the period and no more arrived since
        the last look: it has caught up with its watermark, which at the end of the events stays
        at the partition that went quiet first (the crossings job's windows alike)."""
        count = self._forecasts(warehouse)
        done, self._forecasts_seen = count > 0 and count == self._forecasts_seen, count
        return done

    def _forecasts(self, warehouse: Warehouse) -> int:
        """The forecasts issued in the period, in the warehouse."""
        [row] = warehouse.query(
            "SELECT count() AS n FROM clearance_forecast FINAL "
            "WHERE issued_at >= toDateTime({start:String}, 'UTC') AND issued_at < toDateTime({end:String}, 'UTC')",
            {
                name: f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S}"
                for name, at in (("start", self.start), ("end", self.end))
            },
        ).dicts()
        return int(row["n"])

    def _learn_profiles(self, warehouse: Warehouse) -> None:
        """The forecast's profiles from the warehouse's days before the period (simulated
        normal days written there first where it has none), into `options.profiles`."""
        options = self.options
        days = history_days(self.start.astimezone(SHENZHEN_TZ).date(), options.history_days)
        pseudonymiser = Pseudonymiser.from_settings(PrivacySettings())
        written = seed_history(warehouse, days, scale=options.scale, seed=options.seed, pseudonymiser=pseudonymiser)
        profiles = learn_from_warehouse(warehouse, days[0], days[-1])
        options.profiles.parent.mkdir(parents=True, exist_ok=True)
        options.profiles.write_text(profiles_to_json(profiles))
        log.info(
            "forecast profiles of %d ports, kinds and directions learnt from %s to %s (%s simulated crossings "
            "written there first)",
            len(profiles),
            days[0],
            days[-1],
            f"{sum(written.values()):,}",
        )

    def _produce(self, bootstrap: str) -> None:
        with CrossingProducer(bootstrap) as producer:
            self.producer_started = time.monotonic()
            for event in self.source.events():
                if self.stop.is_set():
                    break
                producer.send(event)
                self.produced += 1
        summary = self.source.summary()
        self.summary.produced_by_port = {port: sum(kinds.values()) for port, kinds in summary["by_port"].items()}
        self.summary.produced = self.produced

    def _summarise(self, warehouse: Warehouse, wall_start: datetime, clickhouse: ClickHouseSettings) -> None:
        wall = TimeRange(wall_start - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1))
        counts = warehouse.query(expand(RECORD_COUNTS, wall)).dicts()
        self.summary.counts = {name: int(value or 0) for name, value in (counts[0] if counts else {}).items()}
        days = dict(zip(("date_from", "date_to"), self.summary.days, strict=True))
        query = (QUERIES / "port_clearance.sql").read_text()
        self.summary.ports = warehouse.query(query, days).dicts()
        episodes = warehouse.query((QUERIES / "alert_history.sql").read_text(), days).dicts()
        self.summary.alerts = [row for row in episodes if row["episode_type"] == "clearance"]
        period = TimeRange(self.start, self.end)
        self.summary.early_warnings = warehouse.query(expand(EARLY_WARNINGS, period, every_value())).dicts()
        self.summary.forecasts = self._forecasts(warehouse)
        self.summary.produced = self.produced
        self.summary.warehouse = describe(clickhouse)
        try:
            write_report(
                warehouse, self.start, self.end, self.options.report, GrafanaSettings(), source=describe(clickhouse)
            )
            self.summary.report = str(self.options.report)
        except Exception as error:  # the summary is still worth printing
            log.error("the report could not be written: %s", error)
