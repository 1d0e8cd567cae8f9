-- Question: how many crossings did each port clear over a period, and how long did clearance
-- (queued to released) take there: p50, p90 and p99?
-- Parameters: {date_from:Date} and {date_to:Date}, the first and last Shenzhen local day
-- (inclusive).
-- Exact percentiles over distinct crossings (FINAL collapses redelivered events), all kinds
-- and directions of a port together.
SELECT port_code,
       uniqExact(event_id) AS crossings,
       quantileExactInclusive(0.5)(clearance_s) AS p50_s,
       quantileExactInclusive(0.9)(clearance_s) AS p90_s,
       quantileExactInclusive(0.99)(clearance_s) AS p99_s
FROM crossings FINAL
WHERE released_at >= toDateTime({date_from:Date}, 'Asia/Shanghai')
  AND released_at < toDateTime({date_to:Date} + 1, 'Asia/Shanghai')
GROUP BY port_code
ORDER BY port_code
