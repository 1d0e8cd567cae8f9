"""Settings of the warehouse: the writer's connection, the analysts' login, the loader."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from schemas.settings import Secret, checked_url, settings_config


class ClickHouseSettings(BaseSettings):
    """The warehouse: chdb at `data_path` unless `CLICKHOUSE_URL` names a server."""

    model_config = settings_config("CLICKHOUSE_")

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
        return checked_url(url, ("clickhouse",), "must be clickhouse://[user:password@]host[:port]/database")


class ClickHouseAnalystSettings(BaseSettings):
    """The read-only analyst login of Grafana's ClickHouse data source, as Grafana reaches the
    server: the variables grafana/provisioning/datasources/clickhouse.yaml reads too."""

    model_config = settings_config("CLICKHOUSE_ANALYST_")

    host: str | None = Field(None, description="ClickHouse host name as Grafana resolves it")
    port: int = Field(9000, ge=1, le=65535, description="native-protocol port (9440 with TLS)")
    secure: bool = Field(False, description="TLS to ClickHouse")
    user: str = Field("crossings_reader", description="sql/roles/005_analyst_user.sql")
    password: Secret = Field(SecretStr(""), description="password of the analyst user")


class LoaderSettings(BaseSettings):
    """The loader: the job's output topics into ClickHouse (`crossings load`)."""

    model_config = settings_config("LOADER_")

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
    metrics_port: int = Field(
        9464, ge=0, le=65535, description="port of its Prometheus metrics (/metrics); 0 = a free port, logged at start"
    )
