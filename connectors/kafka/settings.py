"""Settings of Kafka: where clients find the brokers, and how the local runner starts them."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings

from schemas.settings import settings_config


def default_replication(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) of the topics on a cluster of `brokers`: 3 and 2
    from three brokers on, so one broker may be lost while acks=all writes go on; 1 and 1 on one."""
    replicas = min(brokers, 3)
    return replicas, max(replicas - 1, 1)


class KafkaSettings(BaseSettings):
    """The Kafka broker: where clients find it, and how the local runner starts one."""

    model_config = settings_config("KAFKA_")

    bootstrap_servers: str | None = Field(
        None, description="host:port of running brokers, comma-separated; unset = the local runner's brokers"
    )
    port: int = Field(0, description="listener port of the local broker; 0 = a free port")
    controller_port: int = Field(0, description="KRaft controller port; 0 = a free port")
    data_dir: Path = Field(Path("var/kafka"), description="log dirs, config and logs")
    heap: str = Field("1g", description="JVM heap of the local broker")
    brokers: int = Field(
        1,
        ge=1,
        le=9,
        description="brokers the local runner starts (KRaft, each also a controller; "
        "`crossings services up --brokers N`); the next ports after KAFKA_PORT and "
        "KAFKA_CONTROLLER_PORT when those are set",
    )
    cluster_heap: str = Field("384m", description="JVM heap of each local broker when KAFKA_BROKERS > 1")
    replication_factor: int = Field(
        0,
        ge=0,
        description="replicas of each topic (internal ones too) on the local runner's brokers, its "
        "default.replication.factor, which topics are created with; 0 = KAFKA_BROKERS, at most 3",
    )
    min_insync_replicas: int = Field(
        0,
        ge=0,
        description="replicas that must have a record before an acks=all write succeeds, the local "
        "runner's min.insync.replicas, which topics are created with; 0 = the replication factor - 1, at least 1",
    )
    jars_dir: Path = Field(Path(".cache/jars/kafka"), description="broker classpath (make setup)")
    start_timeout_s: float = Field(60.0, description="how long to wait for the broker to answer")
    transaction_max_timeout_s: int = Field(
        86400,
        ge=60,
        description="longest transaction the local broker allows; the job's exactly-once sinks use "
        "it, so a job restored within it loses nothing",
    )

    @property
    def replicas(self) -> int:
        """Replication factor of every topic (KAFKA_REPLICATION_FACTOR, or the default for KAFKA_BROKERS)."""
        return self.replication_factor or default_replication(self.brokers)[0]

    @property
    def min_isr(self) -> int:
        """min.insync.replicas (KAFKA_MIN_INSYNC_REPLICAS, or one less than the replicas, at least 1)."""
        return self.min_insync_replicas or max(self.replicas - 1, 1)

    @field_validator("replication_factor")
    @classmethod
    def _replicas_fit(cls, value: int, info: ValidationInfo) -> int:
        brokers = info.data.get("brokers", 1)
        if value > brokers:
            raise ValueError(f"must be at most KAFKA_BROKERS ({brokers})")
        return value

    @field_validator("min_insync_replicas")
    @classmethod
    def _isr_fits(cls, value: int, info: ValidationInfo) -> int:
        replicas = info.data.get("replication_factor") or default_replication(info.data.get("brokers", 1))[0]
        if value > replicas:
            raise ValueError(f"must be at most the replication factor ({replicas})")
        return value
