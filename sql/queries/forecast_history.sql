-- Question: what did past days say about each port, kind and direction, crossing by crossing,
-- for the clearance forecast to learn its profiles from (`crossings forecast learn`,
-- pipeline/jobs/forecast_profile.py): when each crossing queued and was released, its
-- clearance, its lane and how long that lane served it?
-- Parameters: {date_from:Date} and {date_to:Date}, the first and last Shenzhen local day
-- (inclusive) of crossings released.
-- One row per distinct crossing (FINAL collapses redelivered events). `day` is the local day
-- of the release; queued_minute and released_minute count whole minutes from that day's local
-- midnight (released_minute 0..1439; queued_minute below 0 for a crossing that queued the day
-- before). service_s = released_at - inspection_started_at, in seconds, as clearance_s.
SELECT port_code,
       kind,
       direction,
       toDate(released_at, 'Asia/Shanghai') AS day,
       dateDiff('minute', toStartOfDay(released_at, 'Asia/Shanghai'), queued_at) AS queued_minute,
       dateDiff('minute', toStartOfDay(released_at, 'Asia/Shanghai'), released_at) AS released_minute,
       clearance_s,
       lane_id,
       dateDiff('millisecond', inspection_started_at, released_at) / 1000 AS service_s
FROM crossings FINAL
WHERE released_at >= toDateTime({date_from:Date}, 'Asia/Shanghai')
  AND released_at < toDateTime({date_to:Date} + 1, 'Asia/Shanghai')
ORDER BY port_code, kind, direction, released_at
