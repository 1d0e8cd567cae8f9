-- Keeps crossings_daily up to date as crossings are inserted; days are Shenzhen local days.
CREATE MATERIALIZED VIEW IF NOT EXISTS crossings_daily_mv TO crossings_daily AS
SELECT toDate(released_at, 'Asia/Shanghai') AS day, port_code, kind, direction,
       uniqExactState(event_id) AS crossings
FROM crossings
GROUP BY day, port_code, kind, direction
