"""The project's Kafka topics and how they are created."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError

from schemas.enums import Kind
from schemas.events import raw_topic
from schemas.outputs import (
    Alert,
    ClearanceForecast,
    ClearanceWindow,
    DeadLetter,
    OutputMessage,
    PipelineCounts,
    ThroughputWindow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    # Raw topics are keyed by port: 4 partitions spread 10 ports over 2 Flink subtasks.
    partitions: int = 4
    config: dict[str, str] = field(default_factory=dict)
    message: type[OutputMessage] | None = None  # what an output topic carries (schemas.outputs)


RAW_TOPICS = {kind: TopicSpec(raw_topic(kind)) for kind in Kind}


def broker_configs(bootstrap: str, timeout_s: float = 30.0) -> dict[str, str]:
    """Every setting of a broker of the cluster at `bootstrap`, by name."""
    admin = AdminClient({"bootstrap.servers": bootstrap}, logger=log)
    broker_id = next(iter(admin.list_topics(timeout=timeout_s).brokers))
    resource = ConfigResource(ResourceType.BROKER, str(broker_id))
    entries = admin.describe_configs([resource])[resource].result(timeout=timeout_s)
    return {name: entry.value for name, entry in entries.items()}


def broker_config(bootstrap: str, name: str, timeout_s: float = 30.0) -> str:
    """The value of broker setting `name` on a broker of the cluster at `bootstrap`."""
    configs = broker_configs(bootstrap, timeout_s)
    if name not in configs:
        raise LookupError(f"the broker at {bootstrap} does not report {name}")
    return configs[name]


def ensure_topics(bootstrap: str, specs: list[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; returns the names created. Each gets the
    cluster's replication: its `default.replication.factor` replicas and `min.insync.replicas`
    (set from KAFKA_REPLICATION_FACTOR and KAFKA_MIN_INSYNC_REPLICAS by the local runner, and
    in the compose and Kubernetes manifests: 1 and 1 on one broker, 3 and 2 on three)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        missing = [spec for spec in specs if spec.name not in set(admin.list_topics())]
        created = []
        if missing:
            configs = broker_configs(bootstrap)
            replicas, min_isr = int(configs["default.replication.factor"]), configs["min.insync.replicas"]
        for spec in missing:
            try:
                admin.create_topics(
                    [
                        NewTopic(
                            spec.name,
                            spec.partitions,
                            replicas,
                            topic_configs={**spec.config, "min.insync.replicas": min_isr},
                        )
                    ]
                )
                created.append(spec.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()


# What the streaming job writes. Window and count topics carry upserts keyed by window and
# dimensions, so compaction keeps the last value per key.
CLEAN = TopicSpec("crossings.clean")
DEAD_LETTERS = TopicSpec("crossings.dlq", message=DeadLetter)
THROUGHPUT = TopicSpec("crossings.metrics.throughput", config={"cleanup.policy": "compact"}, message=ThroughputWindow)
CLEARANCE = TopicSpec("crossings.metrics.clearance", config={"cleanup.policy": "compact"}, message=ClearanceWindow)
PIPELINE_COUNTS = TopicSpec("crossings.metrics.pipeline", config={"cleanup.policy": "compact"}, message=PipelineCounts)
ALERTS = TopicSpec("crossings.alerts", message=Alert)
JOB_OUTPUTS = [CLEAN, DEAD_LETTERS, THROUGHPUT, CLEARANCE, PIPELINE_COUNTS, ALERTS]
# What the forecast job (pipeline/jobs/forecast.py) writes: forecasts, and its early warnings to ALERTS
FORECAST = TopicSpec("crossings.metrics.forecast", config={"cleanup.policy": "compact"}, message=ClearanceForecast)
FORECAST_JOB_OUTPUTS = [FORECAST, ALERTS]
