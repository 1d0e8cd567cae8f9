"""The crossings job: raw topics -> validation, dead letters, dedup -> clean events, window
results, reconciliation counts and clearance spike alerts, exactly once into Kafka.

Run with `crossings job run` (local mini-cluster) or `crossings job submit` (standalone
cluster); both execute this script.
"""

from __future__ import annotations

from pyflink.table import Schema, StreamTableEnvironment, Table
from pyflink.table.expressions import col

from connectors.kafka.topics import (
    CLEAN,
    CLEARANCE,
    DEAD_LETTERS,
    JOB_OUTPUTS,
    PIPELINE_COUNTS,
    RAW_TOPICS,
    THROUGHPUT,
    broker_config,
    ensure_topics,
)
from deploy.services.settings import FlinkSettings
from pipeline.jobs.kafka_tables import Sinks, configure_job, job_parser, kafka_options, message_schema, scan_options
from pipeline.jobs.settings import PipelineSettings
from pipeline.runtime import JOB_NAME, stream_environments
from pipeline.transforms.alerts import alert_episodes
from pipeline.transforms.counts import pipeline_counts
from pipeline.transforms.sql import ISO_UTC, iso, plus_seconds, register_functions
from pipeline.transforms.streams import first_occurrences, mark_lateness
from pipeline.transforms.windows import clearance, clearance_windows, throughput
from schemas.contract import contract_json
from schemas.privacy import PrivacySettings

# what the `crossing-json` format gives the job of each raw record (pipeline/jvm)
PARSED_COLUMNS = (
    "reason STRING, event_id STRING, kind STRING, port_code STRING, direction STRING, "
    "channel_type STRING, event_time TIMESTAMP(3), clearance_ms INT, received_at TIMESTAMP(3), "
    "payload STRING"
)

# what the stages after the source read of each record; the dead letters' coordinates and
# receipt time stay in the source's task, which writes the dead letters
STREAM_COLUMNS = (
    "reason",
    "event_id",
    "kind",
    "port_code",
    "direction",
    "channel_type",
    "event_time",
    "clearance_ms",
    "payload",
    "topic",
    "arrived_at",
    "proctime",
)


def marked_stream(table_env: StreamTableEnvironment, raw: Table, settings: PipelineSettings) -> Table:
    """The source's records as the later stages read them (`STREAM_COLUMNS`), each marked late
    or too late."""
    return mark_lateness(
        table_env,
        raw.select(*(col(name) for name in STREAM_COLUMNS)),
        settings.out_of_orderness_s,
        settings.allowed_lateness_s,
    )


def configure(table_env: StreamTableEnvironment, settings: PipelineSettings) -> None:
    configure_job(table_env, settings, JOB_NAME)
    config = table_env.get_config()
    for key, value in {
        "table.exec.state.ttl": f"{settings.dedup_window_h}h",
        "table.exec.mini-batch.enabled": "true",
        "table.exec.mini-batch.allow-latency": f"{settings.mini_batch_latency_ms}ms",
        "table.exec.mini-batch.size": "5000",
        # the sinks' keys are the aggregations' keys, formatted: no upsert materializer needed
        "table.exec.sink.upsert-materialize": "NONE",
        # the SQL operators and our JVM functions keep no reference to a record they passed
        # on, so chained operators may hand records over without copying them
        "pipeline.object-reuse": "true",
    }.items():
        config.set(key, value)


def create_source(
    table_env: StreamTableEnvironment, settings: PipelineSettings, bootstrap: str, bounded: bool
) -> Table:
    """The three raw topics, each record parsed once by the `crossing-json` format
    (pipeline/jvm) into its verdict (`reason`, NULL = valid) and the typed columns later
    stages need, with its coordinates. The watermark follows `event_time`: released_at of
    records that parse and are not ahead of the skew tolerance, so a bad clock or a malformed
    record cannot move event time."""
    options = kafka_options(
        bootstrap,
        connector="kafka",
        format="crossing-json",
        topic=";".join(spec.name for spec in RAW_TOPICS.values()),
        **{
            "crossing-json.contract": contract_json(),
            "crossing-json.skew-tolerance-s": str(settings.skew_tolerance_s),
            "properties.group.id": settings.consumer_group,
            "properties.isolation.level": "read_committed",
            **scan_options(bounded),
        },
    )
    table_env.execute_sql(f"""
        CREATE TEMPORARY TABLE raw_crossings (
          {PARSED_COLUMNS},
          `topic` STRING METADATA VIRTUAL,
          `partition` INT METADATA VIRTUAL,
          `offset` BIGINT METADATA VIRTUAL,
          kafka_time TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
          arrived_at AS CAST(kafka_time AS TIMESTAMP(3)),
          proctime AS PROCTIME(),
          WATERMARK FOR event_time AS {plus_seconds("event_time", -settings.out_of_orderness_s)}
        ) WITH ({options})""")
    return table_env.from_path("raw_crossings")


def create_published_windows(table_env: StreamTableEnvironment, settings: PipelineSettings, bootstrap: str) -> Table:
    """The clearance windows as the job publishes them, read back from their topic for the
    alerts. A separate source keeps the alert operator's need for watermarks off the raw
    branch, whose mini-batches then stay on processing time (an operator that requires
    watermarks turns every mini-batch upstream of it into an event-time one, which halved the
    job's rate). The watermark trails the newest window start by the out-of-orderness: a window
    counts as final once the events' watermark has passed its end, as in the job, floored to the
    minute."""
    options = kafka_options(
        bootstrap,
        connector="kafka",
        topic=CLEARANCE.name,
        format="json",
        **{
            "properties.group.id": settings.consumer_group,
            "properties.isolation.level": "read_committed",
            **scan_options(bounded=False),
        },
    )
    table_env.execute_sql(f"""
        CREATE TEMPORARY TABLE published_clearance (
          window_start STRING, port_code STRING, kind STRING, direction STRING,
          crossings BIGINT, p90_s DOUBLE,
          window_begin AS TO_TIMESTAMP(window_start, '{ISO_UTC}'),
          WATERMARK FOR window_begin AS {plus_seconds("window_begin", -settings.out_of_orderness_s)}
        ) WITH ({options})""")
    return table_env.sql_query(
        "SELECT window_begin AS window_start, port_code, kind, direction, crossings, p90_s FROM published_clearance"
    )


def create_sinks(
    table_env: StreamTableEnvironment, settings: PipelineSettings, bootstrap: str, transaction_timeout_ms: int | None
) -> None:
    """The six output topics, each sink's schema from its message model (`schemas.outputs`),
    exactly once as `kafka_tables.Sinks` says."""
    sinks = Sinks(table_env, settings, bootstrap, transaction_timeout_ms, settings.transactional_id_prefix)
    clean = Schema.new_builder().column("port_code", "STRING").column("payload", "STRING").build()
    sinks.sink(
        "clean_sink",
        "kafka",
        CLEAN.name,
        clean,
        **{"key.format": "raw", "key.fields": "port_code", "value.format": "raw", "value.fields-include": "EXCEPT_KEY"},
    )
    sinks.sink(
        "dead_letter_sink", "kafka", DEAD_LETTERS.name, message_schema(DEAD_LETTERS.message).build(), format="json"
    )
    sinks.alerts("alert_sink")
    sinks.upsert("throughput_sink", THROUGHPUT)
    sinks.upsert("clearance_sink", CLEARANCE)
    sinks.upsert("pipeline_counts_sink", PIPELINE_COUNTS)


def main() -> None:
    args = job_parser(__doc__, "the raw topics").parse_args()
    settings = PipelineSettings()

    env, table_env = stream_environments(FlinkSettings(), PrivacySettings(), args.parallelism)
    configure(table_env, settings)
    register_functions(table_env)
    raw = create_source(table_env, settings, args.bootstrap, args.bounded)
    exactly_once = settings.delivery_guarantee == "exactly-once" and not args.explain
    create_sinks(
        table_env,
        settings,
        args.bootstrap,
        int(broker_config(args.bootstrap, "transaction.max.timeout.ms")) if exactly_once else None,
    )

    parsed = marked_stream(table_env, raw, settings)
    clean = first_occurrences(table_env, parsed.where(col("reason").is_null))
    on_time = clean.where(col("too_late").is_false)

    statements = table_env.create_statement_set()
    statements.add_insert("clean_sink", clean.select(col("port_code"), col("payload")))
    statements.add_insert(
        "dead_letter_sink",
        table_env.sql_query(f"""
        SELECT reason, `topic`, `partition`, `offset`, payload, {iso("received_at")} AS detected_at
        FROM {raw} WHERE reason IS NOT NULL"""),
    )
    statements.add_insert("throughput_sink", throughput(table_env, on_time, settings.window_state_ttl_min))
    windows = clearance_windows(table_env, on_time, settings.window_state_ttl_min)
    statements.add_insert("clearance_sink", clearance(table_env, windows))
    statements.add_insert("pipeline_counts_sink", pipeline_counts(table_env, parsed, clean))
    # bounded, the windows end with the backlog and the alerts read them in the plan
    published = windows if args.bounded else create_published_windows(table_env, settings, args.bootstrap)
    statements.add_insert("alert_sink", alert_episodes(table_env, published))
    if args.explain:
        print(statements.explain())
        return
    ensure_topics(args.bootstrap, [*RAW_TOPICS.values(), *JOB_OUTPUTS])
    statements.attach_as_datastream()
    env.execute(JOB_NAME)


if __name__ == "__main__":
    main()
