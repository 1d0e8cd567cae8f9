"""Settings of the standalone Flink cluster the local runner starts, and of job submission; of
its Alertmanager and its Prometheus."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from schemas.settings import HttpUrls, settings_config


class FlinkSettings(BaseSettings):
    """The standalone Flink cluster started from the distribution inside PyFlink."""

    model_config = settings_config("FLINK_")

    rest_port: int = Field(0, description="JobManager REST/web port; 0 = a free port")
    rpc_port: int = Field(0, description="JobManager RPC port; 0 = a free port")
    taskmanagers: int = Field(
        1, ge=1, description="TaskManagers started by the runner (one JVM compiles the job's code once)"
    )
    slots_per_taskmanager: int = Field(2, ge=1, description="task slots of each TaskManager")
    parallelism: int = Field(2, ge=1, description="default parallelism of submitted jobs")
    jobmanager_memory: str = Field("1024m", description="total process memory of the JobManager")
    taskmanager_memory: str = Field("1536m", description="total process memory of each TaskManager")
    data_dir: Path = Field(Path("var/flink"), description="generated config, logs, checkpoints")
    connector_jars_dir: Path = Field(Path(".cache/jars/flink"), description="connector jars")
    start_timeout_s: float = Field(90.0, description="how long to wait for the TaskManagers to register")
    local_metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Prometheus reporter port of a job in the local mini-cluster (`crossings job run`); "
        "0 = a free port, printed; unset = no reporter",
    )


class AlertmanagerSettings(BaseSettings):
    """The Alertmanager the local runner and the tests start (Debian's `prometheus-alertmanager`)."""

    model_config = settings_config("ALERTMANAGER_")

    port: int = Field(0, description="web and API port; 0 = a free port")
    data_dir: Path = Field(Path("var/alertmanager"), description="generated config, notification log, silences, log")
    webhook_urls: HttpUrls = Field(
        default_factory=list,
        description="comma-separated http(s) URLs of its webhook receiver (send_resolved); none = notifications "
        "are dropped and alerts only visible in its UI and API",
    )
    group_wait_s: float = Field(30.0, gt=0, description="route group_wait: how long a new group waits for more alerts")
    group_interval_s: float = Field(300.0, gt=0, description="route group_interval: between notifications of a group")
    repeat_interval_s: float = Field(14400.0, gt=0, description="route repeat_interval: a firing group notified again")
    start_timeout_s: float = Field(30.0, gt=0, description="how long to wait for it to answer")


class PrometheusSettings(BaseSettings):
    """The Prometheus the local runner and the tests start (Debian's `prometheus`): it scrapes
    Flink, the loader and the dispatcher (deploy/services/prometheus.py)."""

    model_config = settings_config("PROMETHEUS_")

    port: int = Field(0, ge=0, le=65535, description="web and API port; 0 = a free port")
    data_dir: Path = Field(Path("var/prometheus"), description="generated config, TSDB, log")
    scrape_interval_s: float = Field(15.0, gt=0, description="scrape and rule evaluation interval")
    retention: str = Field("15d", description="how long its TSDB keeps samples (--storage.tsdb.retention.time)")
    start_timeout_s: float = Field(30.0, gt=0, description="how long to wait for it to answer")


class StatusSettings(BaseSettings):
    """`crossings status`: when the loader counts as lagging or stale (exit 1)."""

    model_config = settings_config("STATUS_")

    max_lag_records: int = Field(10_000, ge=0, description="the loader's consumer lag above this is a problem")
    max_freshness_s: float = Field(
        300.0, gt=0, description="now minus the newest crossing loaded above this is a problem"
    )
    timeout_s: float = Field(5.0, gt=0, description="timeout of each question to Flink, Prometheus, Alertmanager")
