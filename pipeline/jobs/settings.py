"""Settings of the crossings job: event time, lateness, validation tolerances, delivery."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from schemas.settings import settings_config


class PipelineSettings(BaseSettings):
    """The streaming job: event time, lateness, validation tolerances, delivery."""

    model_config = settings_config("PIPELINE_")

    out_of_orderness_s: int = Field(30, ge=0, description="bounded out-of-orderness of released_at")
    idle_timeout_s: int = Field(30, ge=1, description="a silent partition stops holding back the watermark")
    allowed_lateness_s: int = Field(600, ge=0, description="late events within this still update windows")
    skew_tolerance_s: int = Field(300, ge=0, description="released_at may be this far ahead of processing time")
    dedup_window_h: int = Field(24, ge=1, description="an event_id seen again within this is a duplicate")
    window_state_ttl_min: int = Field(60, ge=1, description="idle time after which window state is dropped")
    checkpoint_interval_s: float = Field(
        5.0, gt=0, description="with exactly-once delivery, also how often results become visible"
    )
    mini_batch_latency_ms: int = Field(1000, ge=0, description="window updates are batched this long")
    state_backend: str = Field(
        "rocksdb",
        pattern="^(hashmap|rocksdb)$",
        description="rocksdb (off-heap, incremental checkpoints) or hashmap (heap, whole state in every checkpoint)",
    )
    incremental_checkpoints: bool = Field(
        True, description="rocksdb: a checkpoint writes only what changed since the last (hashmap writes all)"
    )
    delivery_guarantee: str = Field(
        "at-least-once",
        pattern="^(exactly-once|at-least-once)$",
        description="exactly-once: outputs visible at each checkpoint (Kafka transactions); at-least-once: "
        "at once, a record may come twice after a failure (every output is keyed: readers drop copies)",
    )
    checkpoint_dir: Path = Field(Path("var/checkpoints"), description="where checkpoints and savepoints go")
    transactional_id_prefix: str = Field(
        "crossings-job", description="unique per job deployment (the forecast job's: this + -forecast)"
    )
    consumer_group: str = Field(
        "crossings-job", description="Kafka consumer group of the job's sources (the forecast job's: this + -forecast)"
    )
    forecast_profile: Path = Field(
        Path("var/forecast/profiles.json"),
        description="the forecast job's profiles (JSON): arrivals, usual p90, lane service per port, kind, direction",
    )
