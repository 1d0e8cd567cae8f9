-- Every clean crossing (from crossings.clean). Redelivered records carry the same event_id and
-- sort key, so ReplacingMergeTree keeps one; read with FINAL for exact counts.
-- Identifiers are HMAC refs, never document numbers, licences or plates.
CREATE TABLE IF NOT EXISTS crossings
(
    event_id              UUID,
    schema_version        UInt8,
    kind                  LowCardinality(String),
    port_code             LowCardinality(String),
    direction             LowCardinality(String),
    lane_id               LowCardinality(String),
    channel_type          LowCardinality(String),
    inspection_mode       LowCardinality(String),
    queued_at             DateTime64(3, 'UTC'),
    inspection_started_at DateTime64(3, 'UTC'),
    released_at           DateTime64(3, 'UTC'),
    clearance_s           Float64 MATERIALIZED dateDiff('millisecond', queued_at, released_at) / 1000,
    subject_ref           String,
    category              LowCardinality(Nullable(String)),
    document_type         LowCardinality(Nullable(String)),
    vehicle_ref           Nullable(String),
    health_check          LowCardinality(Nullable(String)),
    plate_ref             Nullable(String),
    cargo_type            LowCardinality(Nullable(String)),
    declared_weight_kg    Nullable(Float64),
    customs_decision      LowCardinality(Nullable(String)),
    kafka_partition       UInt32,
    kafka_offset          UInt64,
    loaded_at             DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(released_at)
ORDER BY (port_code, kind, released_at, event_id)
TTL toDateTime(released_at) + INTERVAL {retention_days} DAY
