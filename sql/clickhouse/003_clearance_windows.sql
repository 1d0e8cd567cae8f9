-- crossings.metrics.clearance: 5-minute windows sliding by 1 minute, exact percentiles; the
-- row from the latest Kafka offset (version) is the right one. Read with FINAL.
CREATE TABLE IF NOT EXISTS clearance_windows
(
    window_start DateTime('UTC'),
    window_end   DateTime('UTC'),
    port_code    LowCardinality(String),
    kind         LowCardinality(String),
    direction    LowCardinality(String),
    crossings    UInt64,
    mean_s       Float64,
    p50_s        Float64,
    p90_s        Float64,
    p99_s        Float64,
    max_s        Float64,
    version      UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY (window_start, port_code, kind, direction)
