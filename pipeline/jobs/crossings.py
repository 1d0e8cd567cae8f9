"""The crossings job: raw topics -> validation, dead letters, dedup -> clean events, window
results, reconciliation counts and clearance spike alerts, exactly once into Kafka.

Run with `crossings job run` (local mini-cluster) or `crossings job submit` (standalone
cluster); both execute this script.
"""

from __future__ import annotations

import argparse

from pyflink.table import DataTypes, Schema, StreamTableEnvironment, Table
from pyflink.table.expressions import col

from connectors.kafka.topics import (
    ALERTS, CLEAN, CLEARANCE, DEAD_LETTERS, JOB_OUTPUTS, PIPELINE_COUNTS, RAW_TOPICS, THROUGHPUT,
    ensure_topics,
)
from pipeline.runtime import stream_environments
from pipeline.settings import PipelineSettings
from pipeline.transforms.alerts import ALERT_TYPE, AlertEpisodes
from pipeline.transforms.counts import pipeline_counts
from pipeline.transforms.sql import iso, plus_seconds, register_functions
from pipeline.transforms.streams import mark_lateness, number_occurrences
from pipeline.transforms.validation import extract, timestamp_from_text, validate
from pipeline.transforms.windows import clearance, clearance_slides, throughput

JOB_NAME = "crossings"


def configure(table_env: StreamTableEnvironment, settings: PipelineSettings) -> None:
    config = table_env.get_config()
    for key, value in {
        "pipeline.name": JOB_NAME,
        "execution.checkpointing.interval": f"{int(settings.checkpoint_interval_s * 1000)}ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "state.backend.type": settings.state_backend,
        "execution.checkpointing.incremental": str(settings.incremental_checkpoints).lower(),
        "execution.checkpointing.dir": settings.checkpoint_dir.resolve().as_uri(),
        "table.exec.source.idle-timeout": f"{settings.idle_timeout_s}s",
        "table.exec.state.ttl": f"{settings.dedup_window_h}h",
        "table.exec.mini-batch.enabled": "true",
        "table.exec.mini-batch.allow-latency": f"{settings.mini_batch_latency_ms}ms",
        "table.exec.mini-batch.size": "5000",
        # uids from the plan, so a savepoint restores while the plan keeps its shape
        "table.exec.uid.generation": "ALWAYS",
    }.items():
        config.set(key, value)


def kafka_options(bootstrap: str, **options: str) -> str:
    return ", ".join(f"'{k}' = '{v}'" for k, v in {
        "properties.bootstrap.servers": bootstrap, **options}.items())


def create_source(table_env: StreamTableEnvironment, settings: PipelineSettings, bootstrap: str,
                  bounded: bool) -> Table:
    """The three raw topics as one table of payloads with their coordinates. The watermark
    follows `released_at` of records that parse and are not ahead of the skew tolerance, so a
    bad clock or a malformed record cannot move event time."""
    released = timestamp_from_text("JSON_VALUE(payload, '$.released_at')", 3)
    now = "CAST(CURRENT_TIMESTAMP AS TIMESTAMP(3))"
    plausible = f"CASE WHEN {released} <= {plus_seconds(now, settings.skew_tolerance_s)} THEN {released} END"
    scan = ({"scan.startup.mode": "earliest-offset", "scan.bounded.mode": "latest-offset"} if bounded
            else {"scan.startup.mode": "group-offsets", "properties.auto.offset.reset": "earliest"})
    options = kafka_options(
        bootstrap, connector="kafka", format="raw",
        topic=";".join(spec.name for spec in RAW_TOPICS.values()),
        **{"properties.group.id": settings.consumer_group,
           "properties.isolation.level": "read_committed", **scan})
    table_env.execute_sql(f"""
        CREATE TEMPORARY TABLE raw_crossings (
          payload STRING,
          `topic` STRING METADATA VIRTUAL,
          `partition` INT METADATA VIRTUAL,
          `offset` BIGINT METADATA VIRTUAL,
          received_at AS CURRENT_TIMESTAMP,
          proctime AS PROCTIME(),
          event_time AS COALESCE({plausible}, TIMESTAMP '1970-01-01 00:00:00'),
          WATERMARK FOR event_time AS {plus_seconds('event_time', -settings.out_of_orderness_s)}
        ) WITH ({options})""")
    return table_env.from_path("raw_crossings")


def create_sinks(table_env: StreamTableEnvironment, settings: PipelineSettings, bootstrap: str) -> None:
    def exactly_once(name: str) -> dict[str, str]:
        return {"sink.delivery-guarantee": "exactly-once",
                "sink.transactional-id-prefix": f"{settings.transactional_id_prefix}-{name}",
                "properties.transaction.timeout.ms": "900000"}

    def kafka(name: str, topic: str, columns: str, **options: str) -> None:
        with_options = kafka_options(bootstrap, connector="kafka", topic=topic, **exactly_once(name), **options)
        table_env.execute_sql(f"CREATE TEMPORARY TABLE {name} ({columns}) WITH ({with_options})")

    def upsert(name: str, topic: str, columns: str, key: str) -> None:
        with_options = kafka_options(bootstrap, connector="upsert-kafka", topic=topic,
                                     **{"key.format": "json", "value.format": "json"}, **exactly_once(name))
        table_env.execute_sql(
            f"CREATE TEMPORARY TABLE {name} ({columns}, PRIMARY KEY ({key}) NOT ENFORCED) WITH ({with_options})")

    kafka("clean_sink", CLEAN.name, "port_code STRING, payload STRING",
          **{"key.format": "raw", "key.fields": "port_code", "value.format": "raw",
             "value.fields-include": "EXCEPT_KEY"})
    kafka("dead_letter_sink", DEAD_LETTERS.name,
          "reason STRING, `topic` STRING, `partition` INT, `offset` BIGINT, payload STRING, detected_at STRING",
          **{"format": "json"})
    kafka("alert_sink", ALERTS.name,
          "episode_id STRING, state STRING, severity STRING, port_code STRING, kind STRING, "
          "direction STRING, started_at STRING, ended_at STRING, peak_p90_s DOUBLE, threshold_s INT",
          **{"key.format": "raw", "key.fields": "episode_id", "value.format": "json",
             "value.fields-include": "ALL"})
    upsert("throughput_sink", THROUGHPUT.name,
           "window_start STRING, window_end STRING, port_code STRING, kind STRING, direction STRING, "
           "channel_type STRING, crossings BIGINT",
           "window_start, port_code, kind, direction, channel_type")
    upsert("clearance_sink", CLEARANCE.name,
           "window_start STRING, window_end STRING, port_code STRING, kind STRING, direction STRING, "
           "crossings BIGINT, mean_s DOUBLE, p50_s DOUBLE, p90_s DOUBLE, p99_s DOUBLE, max_s DOUBLE",
           "window_start, port_code, kind, direction")
    upsert("pipeline_counts_sink", PIPELINE_COUNTS.name,
           "received_minute STRING, `topic` STRING, received BIGINT, clean BIGINT, dead_letters BIGINT, "
           "duplicates BIGINT, too_late BIGINT",
           "received_minute, `topic`")


def shared(table_env: StreamTableEnvironment, table: Table, rowtime: str = "event_time",
           proctime: str = "proctime") -> Table:
    """`table` for several branches at once: the Table API translates the statement set and
    each DataStream conversion apart, so a branch read through `to_data_stream` would re-run
    everything upstream from its own source scan. Going through one DataStream (in the JVM)
    makes the upstream run once. The stream records carry the rowtime as their timestamps,
    and it comes back from them with their watermarks (as TIMESTAMP_LTZ(3); the session time
    zone is UTC); the processing-time attribute is declared anew.

    The conversion is planned without mini-batching: its processing-time batch assigner
    would replace the event-time watermarks in the stream (the upstream has no aggregation
    to batch anyway); the branches after it are planned with the configured setting."""
    config = table_env.get_config()
    mini_batch = config.get("table.exec.mini-batch.enabled", "false")
    config.set("table.exec.mini-batch.enabled", "false")
    try:
        stream = table_env.to_data_stream(table.drop_columns(col(proctime)))
    finally:
        config.set("table.exec.mini-batch.enabled", mini_batch)
    restored = table_env.from_data_stream(stream, Schema.new_builder()
                                          .column_by_metadata("record_time", DataTypes.TIMESTAMP_LTZ(3), "rowtime")
                                          .column_by_expression(proctime, "PROCTIME()")
                                          .watermark("record_time", "SOURCE_WATERMARK()")
                                          .build())
    return restored.drop_columns(col(rowtime)).rename_columns(col("record_time").alias(rowtime))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--parallelism", type=int, default=None)
    parser.add_argument("--bounded", action="store_true",
                        help="read the raw topics from the start to their current end, then finish")
    parser.add_argument("--explain", action="store_true", help="print the execution plan and exit")
    args = parser.parse_args()
    settings = PipelineSettings()

    env, table_env = stream_environments(args.parallelism)
    configure(table_env, settings)
    register_functions(table_env)
    raw = create_source(table_env, settings, args.bootstrap, args.bounded)
    create_sinks(table_env, settings, args.bootstrap)

    timed = mark_lateness(table_env, extract(table_env, raw), settings.out_of_orderness_s,
                          settings.allowed_lateness_s)
    checked = shared(table_env, validate(table_env, timed, settings.skew_tolerance_s))
    numbered = number_occurrences(table_env, checked.where(col("reason").is_null))
    clean = numbered.where(col("occurrence") == 1)
    on_time = clean.where(col("too_late").is_false)

    statements = table_env.create_statement_set()
    statements.add_insert("clean_sink", clean.select(col("port_code"), col("payload")))
    statements.add_insert("dead_letter_sink", table_env.sql_query(f"""
        SELECT reason, `topic`, `partition`, `offset`, payload, {iso('received_at')} AS detected_at
        FROM {checked} WHERE reason IS NOT NULL"""))
    statements.add_insert("throughput_sink", throughput(table_env, on_time, settings.window_state_ttl_min))
    statements.add_insert("clearance_sink", clearance(table_env, on_time, settings.window_state_ttl_min))
    statements.add_insert("pipeline_counts_sink", pipeline_counts(table_env, checked, numbered))
    alerts = (table_env.to_data_stream(clearance_slides(table_env, on_time))
              .key_by(lambda slide: f"{slide.port_code}/{slide.kind}/{slide.direction}")
              .process(AlertEpisodes(), ALERT_TYPE)
              .uid("alert-episodes").name("alert-episodes"))
    statements.add_insert("alert_sink", table_env.from_data_stream(alerts))
    if args.explain:
        print(statements.explain())
        return
    ensure_topics(args.bootstrap, [*RAW_TOPICS.values(), *JOB_OUTPUTS])
    statements.attach_as_datastream()
    env.execute(JOB_NAME)


if __name__ == "__main__":
    main()
