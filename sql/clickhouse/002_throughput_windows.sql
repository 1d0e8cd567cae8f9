-- crossings.metrics.throughput: one row per 1-minute window and dimensions; the job upserts,
-- so the row from the latest Kafka offset (version) is the right one. Read with FINAL.
CREATE TABLE IF NOT EXISTS throughput_windows
(
    window_start DateTime('UTC'),
    window_end   DateTime('UTC'),
    port_code    LowCardinality(String),
    kind         LowCardinality(String),
    direction    LowCardinality(String),
    channel_type LowCardinality(String),
    crossings    UInt64,
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, port_code, kind, direction, channel_type)
