-- crossings.alerts: one `raised` and one `resolved` row per episode (redeliveries collapse).
CREATE TABLE IF NOT EXISTS alerts
(
    episode_id  UUID,
    state       LowCardinality(String),
    severity    LowCardinality(String),
    port_code   LowCardinality(String),
    kind        LowCardinality(String),
    direction   LowCardinality(String),
    started_at  DateTime('UTC'),
    ended_at    Nullable(DateTime('UTC')),
    peak_p90_s  Float64,
    threshold_s UInt32,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (episode_id, state)
