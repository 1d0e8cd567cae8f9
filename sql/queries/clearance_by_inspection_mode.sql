-- Question: does joint inspection with one release clear faster than the other inspection
-- modes (two-site, co-location)? Clearance time (queued to released) per kind, for
-- joint-one-release against all other modes together.
-- Parameters: {date_from:Date} and {date_to:Date}, the first and last Shenzhen local day
-- (inclusive).
-- `inspection_modes` lists the modes seen in each group; exact percentiles over distinct
-- crossings (FINAL collapses redelivered events).
SELECT kind,
       if(inspection_mode = 'joint-one-release', 'joint-one-release', 'other') AS mode,
       arraySort(groupUniqArray(toString(inspection_mode))) AS inspection_modes,
       uniqExact(event_id) AS crossings,
       avg(clearance_s) AS mean_s,
       quantileExactInclusive(0.5)(clearance_s) AS p50_s,
       quantileExactInclusive(0.9)(clearance_s) AS p90_s
FROM crossings FINAL
WHERE released_at >= toDateTime({date_from:Date}, 'Asia/Shanghai')
  AND released_at < toDateTime({date_to:Date} + 1, 'Asia/Shanghai')
GROUP BY kind, mode
ORDER BY kind, mode
