"""`make bench-ablation`: where the crossings job's time goes, one stage added at a time.

One backlog of `--events` simulated crossings is produced into a broker started in a temporary
folder; then the job's own transforms (`pipeline/transforms`) run over it bounded, in the local
mini-cluster at parallelism `--parallelism`, each stage added to the ones before with its
results into blackhole sinks, and last the whole job with its Kafka sinks. Each run's events/s
is the backlog over the run's wall time (deployment included, the same for every run).
Prints one JSON document.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from confluent_kafka import Producer
from pyflink.table import TableDescriptor
from pyflink.table.expressions import col

from bench.job import send
from bench.produce import simulated
from connectors.kafka.settings import KafkaSettings
from connectors.kafka.topics import JOB_OUTPUTS, RAW_TOPICS, ensure_topics
from deploy.services import KafkaBroker
from deploy.services.settings import FlinkSettings
from pipeline.jobs.crossings import configure, create_source, marked_stream
from pipeline.jobs.settings import PipelineSettings
from pipeline.runtime import JOB_SCRIPT, run_local, stream_environments
from pipeline.transforms.alerts import alert_episodes
from pipeline.transforms.counts import pipeline_counts
from pipeline.transforms.sql import register_functions
from pipeline.transforms.streams import first_occurrences
from pipeline.transforms.windows import clearance, clearance_windows, throughput
from schemas.privacy import PrivacySettings

STAGES = ["source + parse", "+ lateness", "+ dedup", "+ throughput", "+ clearance", "+ counts", "+ alerts"]


def run_stages(
    bootstrap: str, settings: PipelineSettings, parallelism: int, stages: int, jfr: Path | None = None
) -> float:
    """Seconds to run the first `stages` stages over the whole backlog into blackhole sinks;
    with `jfr`, a Java Flight Recording of the run (the mini-cluster is this process's JVM)."""
    _, table_env = stream_environments(FlinkSettings(), PrivacySettings(), parallelism)
    configure(table_env, settings)
    register_functions(table_env)
    raw = create_source(table_env, settings, bootstrap, bounded=True)
    statements = table_env.create_statement_set()

    def blackhole(table) -> None:
        statements.add_insert(TableDescriptor.for_connector("blackhole").build(), table)

    parsed = raw
    if stages == 1:
        blackhole(raw.select(col("reason"), col("port_code"), col("clearance_ms"), col("payload")))
    if stages >= 2:
        parsed = marked_stream(table_env, raw, settings)
        if stages == 2:
            blackhole(parsed.select(col("reason"), col("too_late"), col("payload")))
    if stages >= 3:
        clean = first_occurrences(table_env, parsed.where(col("reason").is_null))
        on_time = clean.where(col("too_late").is_false)
        blackhole(clean.select(col("port_code"), col("payload")))
        blackhole(raw.where(col("reason").is_not_null).select(col("reason"), col("payload")))
    if stages >= 4:
        blackhole(throughput(table_env, on_time, settings.window_state_ttl_min))
    if stages >= 5:
        windows = clearance_windows(table_env, on_time, settings.window_state_ttl_min)
        blackhole(clearance(table_env, windows))
    if stages >= 6:
        blackhole(pipeline_counts(table_env, parsed, clean))
    if stages >= 7:
        blackhole(alert_episodes(table_env, windows))
    started = time.perf_counter()
    result = statements.execute()
    if jfr is not None:
        jcmd("JFR.start", "name=ablation", "settings=profile", f"filename={jfr}")
    result.wait()
    if jfr is not None:
        jcmd("JFR.stop", "name=ablation")
    return time.perf_counter() - started


def jcmd(*command: str) -> None:
    """A diagnostic command to the JVM that runs the mini-cluster (this process's gateway)."""
    from pyflink.java_gateway import get_gateway

    pid = get_gateway().jvm.java.lang.ProcessHandle.current().pid()
    subprocess.run(["jcmd", str(pid), *command], check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=600_000, help="backlog size")
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--jfr", type=Path, help="record the run of all stages with JFR into this file")
    parser.add_argument("--job-only", action="store_true", help="only the whole job")
    args = parser.parse_args()
    settings = PipelineSettings()

    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-ablation-")))
        bootstrap = stack.enter_context(KafkaBroker(KafkaSettings(data_dir=folder / "kafka"))).bootstrap
        ensure_topics(bootstrap, [*RAW_TOPICS.values(), *JOB_OUTPUTS])
        producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 5})
        for event in simulated(args.events, seed=1):
            send(producer, event)
        producer.flush(120)
        del producer

        runs = {}
        if not args.job_only:
            run_stages(bootstrap, settings, args.parallelism, 1)  # warm-up: the JIT, the page cache
        for stages, name in enumerate([] if args.job_only else STAGES, 1):
            jfr = args.jfr.resolve() if args.jfr and stages == len(STAGES) else None
            seconds = run_stages(bootstrap, settings, args.parallelism, stages, jfr)
            print(f"{name}: {seconds:.1f} s", file=sys.stderr)
            runs[name] = {"seconds": round(seconds, 1), "events_per_s": round(args.events / seconds)}
        started = time.perf_counter()
        run_local(
            JOB_SCRIPT,
            ["--bootstrap", bootstrap, "--bounded", "--parallelism", str(args.parallelism)],
            3600,
            env={
                "PIPELINE_CHECKPOINT_DIR": str(folder / "checkpoints"),
                "PIPELINE_TRANSACTIONAL_ID_PREFIX": "ablation",
                "PIPELINE_CONSUMER_GROUP": "ablation",
            },
        )
        seconds = time.perf_counter() - started
        runs["whole job, Kafka sinks"] = {"seconds": round(seconds, 1), "events_per_s": round(args.events / seconds)}

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(
        json.dumps(
            {
                "benchmark": "ablation",
                "date": time.strftime("%Y-%m-%d"),
                "commit": commit,
                "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
                "events": args.events,
                "parallelism": args.parallelism,
                "state_backend": settings.state_backend,
                "runs": runs,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
