-- Question: does the warehouse hold exactly the traveller crossings a replay of the HK
-- Immigration Department's statistics at a given scale should have produced? Per Shenzhen
-- port, direction and day: expected, actual and actual - expected (0 is the goal).
-- Parameters: {date_from:Date} and {date_to:Date}, the first and last day (inclusive);
-- {scale:Float64}, the replay's scale (events per published crossing, e.g. 0.1).
-- expected = sum over the categories of roundBankers(travellers x scale), rounded per day,
-- port, direction and category as the replay does, on the exact decimal product (the scale's
-- shortest decimal form, up to 9 decimals), so 25 x 0.1 = 2.5 gives 2 as in the replay.
-- official_daily_traffic already maps HK arrival to Shenzhen exit; control points without a
-- Shenzhen counterpart (port_code NULL) are left out. actual counts distinct event ids in the
-- daily rollup, traveller kind only.
SELECT day, port_code, direction, expected, actual, toInt64(actual) - toInt64(expected) AS difference
FROM
(
    SELECT day, assumeNotNull(port_code) AS port_code, toString(direction) AS direction,
           toUInt64(sum(roundBankers(toDecimal128(travellers, 0)
                                     * toDecimal128(toString({scale:Float64}), 9)))) AS expected
    FROM
    (
        SELECT day, port_code, direction, travellers
        FROM official_daily_traffic FINAL
        WHERE port_code IS NOT NULL AND day BETWEEN {date_from:Date} AND {date_to:Date}
    )
    GROUP BY day, port_code, direction
) AS official
FULL OUTER JOIN
(
    SELECT day, toString(port_code) AS port_code, toString(direction) AS direction,
           uniqExactMerge(crossings) AS actual
    FROM crossings_daily
    WHERE kind = 'traveller' AND day BETWEEN {date_from:Date} AND {date_to:Date}
    GROUP BY day, port_code, direction
) AS warehouse
USING (day, port_code, direction)
ORDER BY day, port_code, direction
