-- The HK Immigration Department's daily passenger counts (the CSV in ../shared/data), one row
-- per day, HK control point, HK direction and category, with the Shenzhen counterpart port
-- (NULL where there is none) and the direction seen from Shenzhen (HK arrival = Shenzhen
-- exit); loaded by `crossings load-statistics`.
CREATE TABLE IF NOT EXISTS official_daily_traffic
(
    day           Date,
    control_point LowCardinality(String),
    hk_direction  LowCardinality(String),
    port_code     LowCardinality(Nullable(String)),
    direction     LowCardinality(String),
    category      LowCardinality(String),
    travellers    UInt64
)
ENGINE = ReplacingMergeTree
ORDER BY (day, control_point, hk_direction, category)
