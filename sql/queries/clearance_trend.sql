-- Question: how does the clearance time (queued to released) of each port and kind evolve:
-- its median (p50) and p90 per hour or per day?
-- Parameters: {date_from:Date} and {date_to:Date}, the first and last Shenzhen local day
-- (inclusive); {bucket:String}, 'hour' or 'day' (any dateTrunc unit: 'minute', 'week', ...),
-- cut in Shenzhen local time.
-- Exact percentiles interpolated between ranks, as the streaming job computes them, over
-- distinct crossings (FINAL collapses redelivered events).
SELECT dateTrunc({bucket:String}, released_at, 'Asia/Shanghai') AS bucket_start,
       port_code, kind,
       uniqExact(event_id) AS crossings,
       quantileExactInclusive(0.5)(clearance_s) AS p50_s,
       quantileExactInclusive(0.9)(clearance_s) AS p90_s
FROM crossings FINAL
WHERE released_at >= toDateTime({date_from:Date}, 'Asia/Shanghai')
  AND released_at < toDateTime({date_to:Date} + 1, 'Asia/Shanghai')
GROUP BY bucket_start, port_code, kind
ORDER BY bucket_start, port_code, kind
