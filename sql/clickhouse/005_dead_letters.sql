-- crossings.dlq: each invalid raw record once, by its raw coordinates, with the reason.
CREATE TABLE IF NOT EXISTS dead_letters
(
    reason      String,
    topic       LowCardinality(String),
    partition   UInt32,
    offset      UInt64,
    payload     String,
    detected_at DateTime('UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(detected_at)
ORDER BY (topic, partition, offset)
