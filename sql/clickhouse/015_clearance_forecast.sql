-- crossings.metrics.forecast: the p90 clearance expected 15, 30 and 60 minutes after each
-- minute (issued_at), per port, kind and direction, with what the model saw (queue, capacity,
-- arrivals against the profile). Upserts: the row from the latest Kafka offset (version) is
-- the right one. Read with FINAL. `target_at` is the end of the 5-minute window forecast, so
-- the forecast lines up with clearance_windows' window_end.
CREATE TABLE IF NOT EXISTS clearance_forecast
(
    issued_at        DateTime('UTC'),
    port_code        LowCardinality(String),
    kind             LowCardinality(String),
    direction        LowCardinality(String),
    horizon_min      UInt16,
    target_at        DateTime('UTC'),
    p90_s            Float64,
    usual_p90_s      Float64,
    queue            Float64,
    capacity_per_min Float64,
    arrival_ratio    Float64,
    version          UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(issued_at)
ORDER BY (issued_at, port_code, kind, direction, horizon_min)
