-- crossings.metrics.pipeline: the job's reconciliation counts per received minute and raw topic.
CREATE TABLE IF NOT EXISTS pipeline_counts
(
    received_minute DateTime('UTC'),
    topic           LowCardinality(String),
    received        UInt64,
    clean           UInt64,
    dead_letters    UInt64,
    duplicates      UInt64,
    too_late        UInt64,
    version         UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (received_minute, topic)
