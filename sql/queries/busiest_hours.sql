-- Question: which hours of the week are busiest? Heatmap data: one row per weekday
-- (1 = Monday ... 7 = Sunday) and local hour (0-23, Asia/Shanghai) for every weekday the
-- range covers, with the crossings in that slot and their mean per day of that weekday.
-- Parameters: {date_from:Date} and {date_to:Date}, the first and last Shenzhen local day
-- (inclusive); {port_code:String}, a port code or '' for all ports; {kind:String},
-- 'traveller', 'driver', 'truck' or '' for all kinds.
-- Reads the hourly rollup crossings_hourly (distinct event ids per UTC hour; Shenzhen is
-- UTC+8 all year, so UTC hours are local hours).
WITH
    days AS
    (
        SELECT toDayOfWeek(day) AS weekday, count() AS days
        FROM
        (
            SELECT arrayJoin(arrayMap(i -> {date_from:Date} + i,
                range(toUInt32(greatest(dateDiff('day', {date_from:Date}, {date_to:Date}) + 1, 0))))) AS day
        )
        GROUP BY weekday
    ),
    slots AS
    (
        SELECT toDayOfWeek(hour, 0, 'Asia/Shanghai') AS weekday, toHour(hour, 'Asia/Shanghai') AS hour_of_day,
               sum(crossings) AS crossings
        FROM
        (
            SELECT hour, uniqExactMerge(crossings) AS crossings
            FROM crossings_hourly
            WHERE hour >= toDateTime({date_from:Date}, 'Asia/Shanghai')
              AND hour < toDateTime({date_to:Date} + 1, 'Asia/Shanghai')
              AND ({port_code:String} = '' OR port_code = {port_code:String})
              AND ({kind:String} = '' OR kind = {kind:String})
            GROUP BY hour
        )
        GROUP BY weekday, hour_of_day
    )
SELECT days.weekday AS weekday, hours.hour_of_day AS hour,
       slots.crossings AS crossings,
       slots.crossings / days.days AS mean_per_day
FROM days
CROSS JOIN (SELECT toUInt8(number) AS hour_of_day FROM numbers(24)) AS hours
LEFT JOIN slots ON slots.weekday = days.weekday AND slots.hour_of_day = hours.hour_of_day
ORDER BY weekday, hour
