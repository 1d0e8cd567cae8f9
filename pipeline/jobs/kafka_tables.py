"""What every job of the pipeline shares: its command line, its Flink configuration, the
options of a Kafka table and the sinks of its output topics, each sink's schema from its
message model (`schemas.outputs`)."""

from __future__ import annotations

import argparse

from pyflink.table import Schema, StreamTableEnvironment, TableDescriptor

from connectors.kafka.topics import ALERTS, TopicSpec
from pipeline.jobs.settings import PipelineSettings
from pipeline.transforms.sql import literal
from schemas.outputs import OutputMessage, flink_type


def job_parser(description: str, reads: str) -> argparse.ArgumentParser:
    """The arguments of a job script reading the topics `reads`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers")
    parser.add_argument("--parallelism", type=int, default=None)
    parser.add_argument(
        "--bounded", action="store_true", help=f"read {reads} from the start to the current end, then finish"
    )
    parser.add_argument("--explain", action="store_true", help="print the execution plan and exit")
    return parser


def configure_job(table_env: StreamTableEnvironment, settings: PipelineSettings, name: str) -> None:
    """The name, checkpoints, state backend and source idleness of a job."""
    config = table_env.get_config()
    for key, value in {
        "pipeline.name": name,
        "execution.checkpointing.interval": f"{int(settings.checkpoint_interval_s * 1000)}ms",
        "execution.checkpointing.mode": "EXACTLY_ONCE",
        "state.backend.type": settings.state_backend,
        "execution.checkpointing.incremental": str(settings.incremental_checkpoints).lower(),
        "execution.checkpointing.dir": settings.checkpoint_dir.resolve().as_uri(),
        "table.exec.source.idle-timeout": f"{settings.idle_timeout_s}s",
        # uids from the plan, so a savepoint restores while the plan keeps its shape
        "table.exec.uid.generation": "ALWAYS",
    }.items():
        config.set(key, value)


def kafka_options(bootstrap: str, **options: str) -> str:
    return ", ".join(
        f"{literal(k)} = {literal(v)}" for k, v in {"properties.bootstrap.servers": bootstrap, **options}.items()
    )


def scan_options(bounded: bool) -> dict[str, str]:
    """Where a Kafka source starts: bounded, from the earliest to the latest offset, then it
    finishes; else from its group's offsets, the earliest on its first start."""
    if bounded:
        return {"scan.startup.mode": "earliest-offset", "scan.bounded.mode": "latest-offset"}
    return {"scan.startup.mode": "group-offsets", "properties.auto.offset.reset": "earliest"}


def message_schema(message: type[OutputMessage]) -> Schema.Builder:
    """The Flink columns of an output message (its key's NOT NULL, as a primary key needs)."""
    builder = Schema.new_builder()
    for name, field in message.model_fields.items():
        builder.column(name, flink_type(field) + (" NOT NULL" if name in message.key else ""))
    return builder


class Sinks:
    """Creates a job's sinks of output topics: exactly once, each sink's transactions have ids
    `transactional_id_prefix-<sink name>` and last `transaction_timeout_ms` (the broker's
    longest): a job restored within it from its last checkpoint commits what that checkpoint
    pre-committed; a later restore finds them aborted by the broker, and that output is lost."""

    def __init__(
        self,
        table_env: StreamTableEnvironment,
        settings: PipelineSettings,
        bootstrap: str,
        transaction_timeout_ms: int | None,
        transactional_id_prefix: str,
    ) -> None:
        self.table_env = table_env
        self.settings = settings
        self.bootstrap = bootstrap
        self.transaction_timeout_ms = transaction_timeout_ms
        self.transactional_id_prefix = transactional_id_prefix

    def sink(self, name: str, connector: str, topic: str, schema: Schema, **options: str) -> None:
        # JSON compresses about fivefold: less for the broker, which shares the cores, to write;
        # acks=all: a record is written once min.insync.replicas brokers have it
        options |= {
            "topic": topic,
            "properties.bootstrap.servers": self.bootstrap,
            "properties.acks": "all",
            "properties.compression.type": "lz4",
            "properties.linger.ms": "20",
            "properties.batch.size": "262144",
            "sink.delivery-guarantee": self.settings.delivery_guarantee,
        }
        if self.settings.delivery_guarantee == "exactly-once":
            options["sink.transactional-id-prefix"] = f"{self.transactional_id_prefix}-{name}"
            if self.transaction_timeout_ms:
                options["properties.transaction.timeout.ms"] = str(self.transaction_timeout_ms)
        descriptor = TableDescriptor.for_connector(connector).schema(schema)
        for key, value in options.items():
            descriptor = descriptor.option(key, value)
        self.table_env.create_temporary_table(name, descriptor.build())

    def upsert(self, name: str, spec: TopicSpec) -> None:
        """An upsert topic keyed by its message's key, as JSON."""
        self.sink(
            name,
            "upsert-kafka",
            spec.name,
            message_schema(spec.message).primary_key(*spec.message.key).build(),
            **{"key.format": "json", "value.format": "json"},
        )

    def alerts(self, name: str) -> None:
        """The alerts topic: appended, each record keyed by its episode id as raw text."""
        (alert_key,) = ALERTS.message.key
        self.sink(
            name,
            "kafka",
            ALERTS.name,
            message_schema(ALERTS.message).build(),
            **{"key.format": "raw", "key.fields": alert_key, "value.format": "json", "value.fields-include": "ALL"},
        )
