-- Hourly rollup per port, kind, direction and inspection mode, kept by 008. Crossings are
-- counted as distinct event ids, so a redelivered batch does not count twice.
CREATE TABLE IF NOT EXISTS crossings_hourly
(
    hour            DateTime('UTC'),
    port_code       LowCardinality(String),
    kind            LowCardinality(String),
    direction       LowCardinality(String),
    inspection_mode LowCardinality(String),
    crossings       AggregateFunction(uniqExact, UUID),
    clearance       AggregateFunction(quantiles(0.5, 0.9), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (hour, port_code, kind, direction, inspection_mode)
