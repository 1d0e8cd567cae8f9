"""Settings, one pydantic-settings class per system, read from the environment and `.env`.

Every variable is listed in `.env.example`. Relative paths resolve against the working
directory, so commands run from the checkout keep their state under `var/`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", env_ignore_empty=True, extra="ignore", hide_input_in_errors=True
    )  # the value may be a secret


def _printable(secret: SecretStr) -> SecretStr:
    if not secret.get_secret_value().isprintable():
        raise ValueError("must not contain line breaks or other control characters (copied with a newline?)")
    return secret


# A password, token or key: printable, as a header, a login or an HMAC key needs it.
Secret = Annotated[SecretStr, AfterValidator(_printable)]
_HTTP = ("http", "https")


def _checked_url(url: str | None, schemes: tuple[str, ...], rule: str) -> str | None:
    """`url` if it has one of `schemes`, a host and a numeric port if any; else ValueError(rule),
    never the URL itself, which may carry a password or a token. None stays None."""
    if url is None:
        return url
    try:
        parts = urlsplit(url)
        valid = parts.scheme in schemes and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number, a broken IPv6 address
        valid = False
    if not valid:
        raise ValueError(rule)
    return url


def default_replication(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) of the topics on a cluster of `brokers`: 3 and 2
    from three brokers on, so one broker may be lost while acks=all writes go on; 1 and 1 on one."""
    replicas = min(brokers, 3)
    return replicas, max(replicas - 1, 1)


class KafkaSettings(BaseSettings):
    """The Kafka broker: where clients find it, and how the local runner starts one."""

    model_config = _config("KAFKA_")

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


class FlinkSettings(BaseSettings):
    """The standalone Flink cluster started from the distribution inside PyFlink."""

    model_config = _config("FLINK_")

    rest_port: int = Field(0, description="JobManager REST/web port; 0 = a free port")
    rpc_port: int = Field(0, description="JobManager RPC port; 0 = a free port")
    taskmanagers: int = Field(2, ge=1, description="TaskManagers started by the runner")
    slots_per_taskmanager: int = Field(1, ge=1, description="task slots of each TaskManager")
    parallelism: int = Field(2, ge=1, description="default parallelism of submitted jobs")
    jobmanager_memory: str = Field("1024m", description="total process memory of the JobManager")
    taskmanager_memory: str = Field("1280m", description="total process memory of each TaskManager")
    data_dir: Path = Field(Path("var/flink"), description="generated config, logs, checkpoints")
    connector_jars_dir: Path = Field(Path(".cache/jars/flink"), description="connector jars")
    start_timeout_s: float = Field(90.0, description="how long to wait for the TaskManagers to register")


class PipelineSettings(BaseSettings):
    """The streaming job: event time, lateness, validation tolerances, delivery."""

    model_config = _config("PIPELINE_")

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
    transactional_id_prefix: str = Field("crossings-job", description="unique per job deployment")
    consumer_group: str = Field("crossings-job", description="Kafka consumer group of the job's sources")


class ClickHouseSettings(BaseSettings):
    """The warehouse: chdb at `data_path` unless `CLICKHOUSE_URL` names a server."""

    model_config = _config("CLICKHOUSE_")

    url: str | None = Field(None, description="clickhouse://host:port/database of a server; unset = embedded chdb")
    user: str = Field("default", description="user of the server (the writer, sql/roles/)")
    password: Secret = Field(SecretStr(""), description="password of that user")
    database: str = Field("crossings", description="database of every table")
    data_path: Path = Field(Path("var/chdb"), description="chdb data folder (one process at a time)")
    retention_days: int = Field(1095, ge=1, description="crossings older than this are dropped (TTL)")
    dead_letters_ttl_days: int = Field(
        30,
        ge=1,
        description="dead letters older than this (by detected_at) are dropped: TTL of dead_letters, "
        "set again by `crossings migrate` when it changes",
    )

    @field_validator("url")
    @classmethod
    def _server_url(cls, url: str | None) -> str | None:
        return _checked_url(url, ("clickhouse",), "must be clickhouse://[user:password@]host[:port]/database")


class GrafanaSettings(BaseSettings):
    """The Grafana instance that `crossings grafana push` provisions."""

    model_config = _config("GRAFANA_")

    url: str | None = Field(None, description="base URL of Grafana")
    token: Secret = Field(SecretStr(""), description="service-account token")
    alert_webhook_url: str | None = Field(
        None, description="http(s) URL the crossings-webhook contact point posts alerts to"
    )
    timeout_s: float = Field(10.0, gt=0, description="connect and read timeout of one Grafana API call")

    @field_validator("url", "alert_webhook_url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        return _checked_url(url, _HTTP, "must be an http(s) URL")


class ClickHouseAnalystSettings(BaseSettings):
    """The read-only analyst login of Grafana's ClickHouse data source, as Grafana reaches the
    server: the variables grafana/provisioning/datasources/clickhouse.yaml reads too."""

    model_config = _config("CLICKHOUSE_ANALYST_")

    host: str | None = Field(None, description="ClickHouse host name as Grafana resolves it")
    port: int = Field(9000, ge=1, le=65535, description="native-protocol port (9440 with TLS)")
    secure: bool = Field(False, description="TLS to ClickHouse")
    user: str = Field("crossings_reader", description="sql/roles/005_analyst_user.sql")
    password: Secret = Field(SecretStr(""), description="password of the analyst user")


HMAC_KEY_MIN_BYTES = 32
# CHANGE_ME, the placeholder of deploy/k8s/secret.example.yaml, in any case, spelling or repetition.
_PLACEHOLDER = re.compile(r"(change[\W_]*me[\W_]*)+", re.IGNORECASE)


class PrivacySettings(BaseSettings):
    """Pseudonymisation of document numbers, licences and plates."""

    model_config = _config("PRIVACY_")

    hmac_key: Secret = Field(SecretStr(""), description="key of the HMAC that turns identifiers into refs")

    @field_validator("hmac_key")
    @classmethod
    def _strong_key(cls, key: SecretStr) -> SecretStr:
        """Empty means unset (the Pseudonymiser refuses it); else 32 bytes, not a placeholder."""
        secret = key.get_secret_value()
        if not secret:
            return key
        if _PLACEHOLDER.fullmatch(secret):
            raise ValueError("is a placeholder, not a key: set a random one (`make setup` writes one into .env)")
        if len(secret.encode()) < HMAC_KEY_MIN_BYTES:
            raise ValueError(
                f"must be at least {HMAC_KEY_MIN_BYTES} bytes of random key (`make setup` writes one into .env)"
            )
        return key


class LoaderSettings(BaseSettings):
    """The loader: the job's output topics into ClickHouse (`crossings load`)."""

    model_config = _config("LOADER_")

    group_id: str = Field("crossings-loader", description="Kafka consumer group of the loader")
    batch_rows: int = Field(50_000, ge=1, description="a table's batch is inserted at this many rows")
    batch_wait_ms: int = Field(1000, ge=1, description="... or when its oldest record waited this long")
    backoff_initial_ms: int = Field(100, ge=1, description="first wait before retrying a failed insert")
    backoff_max_ms: int = Field(30_000, ge=1, description="retry waits double up to this")
    refused_tries: int = Field(
        3,
        ge=1,
        description="a batch ClickHouse refuses for good (a bad value, a type, too "
        "many partitions) is tried this often, then split: the rows it refuses go to "
        "load_rejects",
    )
    max_poll_interval_s: int = Field(
        300,
        ge=7,
        description="an insert retried longer than this (a ClickHouse outage) puts the loader out of its "
        "group; it rejoins when the insert succeeds, and its rows are read again from the last commit",
    )


class AlertSettings(BaseSettings):
    """The alert dispatcher: `crossings.alerts` to webhooks (`crossings alerts dispatch`)."""

    model_config = _config("ALERTS_")

    webhook_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma-separated http(s) URLs; none = alerts are logged to the console"
    )
    webhook_token: Secret | None = Field(None, description="sent to every webhook as `Authorization: Bearer`")
    group_id: str = Field("crossings-alerts", description="Kafka consumer group of the dispatcher")
    timeout_s: float = Field(10.0, gt=0, description="connect and read timeout of one POST")
    backoff_initial_ms: int = Field(500, ge=1, description="first wait before retrying a failed POST")
    backoff_max_ms: int = Field(60_000, ge=1, description="retry waits double up to this")
    delivery_max_seconds: float = Field(
        1800.0,
        gt=0,
        description="a webhook's failed POSTs of an alert (5xx, 408, 429, connection errors, timeouts) "
        "are retried this long after the alert was read, then recorded as a failed delivery; other 4xx are not retried",
    )
    max_poll_interval_s: int = Field(
        300,
        ge=7,
        description="librdkafka's max.poll.interval.ms: the dispatcher polls while webhooks retry, so "
        "an outage of any length keeps it in its group",
    )

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return [url.strip() for url in value.split(",") if url.strip()] if isinstance(value, str) else value

    @field_validator("webhook_urls")
    @classmethod
    def _http_urls(cls, urls: list[str]) -> list[str]:
        for number, url in enumerate(urls, 1):
            _checked_url(url, _HTTP, f"URL {number} of {len(urls)} must be an http(s) URL")
        return urls


ALL_SETTINGS = (
    KafkaSettings,
    FlinkSettings,
    PipelineSettings,
    ClickHouseSettings,
    GrafanaSettings,
    ClickHouseAnalystSettings,
    PrivacySettings,
    LoaderSettings,
    AlertSettings,
)


def settings_error_line(error: ValidationError) -> str | None:
    """One line naming each variable that a settings class refused and the rule it breaks,
    never the value; None when `error` is not about settings."""
    cls = next((cls for cls in ALL_SETTINGS if cls.__name__ == error.title), None)
    if cls is None:
        return None
    prefix = cls.model_config["env_prefix"]
    return "; ".join(
        f"{prefix}{str(item['loc'][0]).upper()}: {item['msg'].removeprefix('Value error, ')}"
        for item in error.errors(include_url=False, include_input=False)
    )


def settings_table() -> str:
    """Every setting as the rows of a Markdown table: variable, default, meaning (docs/settings.md)."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for cls in ALL_SETTINGS:
        prefix = cls.model_config["env_prefix"]
        for name, field in cls.model_fields.items():
            default = field.get_default(call_default_factory=True)
            if isinstance(default, SecretStr):
                default = default.get_secret_value()
            shown = f"`{default}`" if default not in (None, "", []) else ""
            rows.append(f"| `{prefix}{name.upper()}` | {shown} | {field.description or ''} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(settings_table())
