-- Rows ClickHouse refused for good (a bad value, a type the table does not take): the loader
-- split their batch, inserted the rest, and recorded each refused row here with its Kafka
-- coordinates, ClickHouse's message and the row's values (JSON, clipped; the clean topics
-- carry refs, never clear identifiers) before committing past it. Redeliveries collapse.
CREATE TABLE IF NOT EXISTS load_rejects
(
    table_name  LowCardinality(String),
    topic       LowCardinality(String),
    partition   UInt32,
    offset      UInt64,
    error       String,
    row_json    String,
    rejected_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (topic, partition, offset)
TTL toDateTime(rejected_at) + INTERVAL {retention_days} DAY
