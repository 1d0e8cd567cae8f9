-- Keeps crossings_hourly up to date as crossings are inserted.
CREATE MATERIALIZED VIEW IF NOT EXISTS crossings_hourly_mv TO crossings_hourly AS
SELECT toStartOfHour(released_at) AS hour, port_code, kind, direction, inspection_mode,
       uniqExactState(event_id) AS crossings,
       quantilesState(0.5, 0.9)(dateDiff('millisecond', queued_at, released_at) / 1000) AS clearance
FROM crossings
GROUP BY hour, port_code, kind, direction, inspection_mode
