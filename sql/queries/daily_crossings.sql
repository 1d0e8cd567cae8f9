-- Question: how many crossings did each port clear per Shenzhen local day (Asia/Shanghai),
-- by direction and kind?
-- Parameters: {date_from:Date} and {date_to:Date}, the first and last local day (inclusive).
-- Reads the daily rollup crossings_daily, whose uniqExact states over event_id count each
-- crossing once however often it was delivered, and which outlives the crossings' retention.
SELECT day, port_code, direction, kind, uniqExactMerge(crossings) AS crossings
FROM crossings_daily
WHERE day BETWEEN {date_from:Date} AND {date_to:Date}
GROUP BY day, port_code, direction, kind
ORDER BY day, port_code, direction, kind
