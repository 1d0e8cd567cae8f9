-- Question: which alerts were raised, when were they resolved, and how long did each episode
-- last? episode_type tells a clearance spike (the measured p90 over the port's threshold) from
-- a forecast early warning (the 30-minute forecast over it; peak_p90_s is then the highest
-- forecast): filter on it for one kind.
-- Parameters: {date_from:Date} and {date_to:Date}: episodes that started on these Shenzhen
-- local days (inclusive).
-- One row per episode: raised_at is the start of the episode (its first slide above the
-- threshold), resolved_at the start of the calm that ended it (NULL while it is open), and
-- duration_s the seconds between them. Severity and peak are the latest known (the resolved
-- message's once there is one).
SELECT episode_id,
       any(port_code) AS port_code,
       any(kind) AS kind,
       any(direction) AS direction,
       any(episode_type) AS episode_type,
       argMax(severity, state = 'resolved') AS severity,
       min(started_at) AS raised_at,
       anyIf(ended_at, state = 'resolved') AS resolved_at,
       dateDiff('second', raised_at, resolved_at) AS duration_s,
       max(peak_p90_s) AS peak_p90_s,
       any(threshold_s) AS threshold_s
FROM alerts FINAL
WHERE started_at >= toDateTime({date_from:Date}, 'Asia/Shanghai')
  AND started_at < toDateTime({date_to:Date} + 1, 'Asia/Shanghai')
GROUP BY episode_id
ORDER BY raised_at, port_code, kind, direction
