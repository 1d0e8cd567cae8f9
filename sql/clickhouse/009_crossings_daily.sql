-- Daily rollup per Shenzhen local day, port, kind and direction, kept by 010.
CREATE TABLE IF NOT EXISTS crossings_daily
(
    day       Date,
    port_code LowCardinality(String),
    kind      LowCardinality(String),
    direction LowCardinality(String),
    crossings AggregateFunction(uniqExact, UUID)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (day, port_code, kind, direction)
