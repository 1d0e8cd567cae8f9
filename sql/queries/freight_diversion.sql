-- Question: is freight moving away from Huanggang? Per Shenzhen local day, the truck crossings
-- (both directions) at Huanggang (HUANGGANG), Liantang (LIANTANG) and Shenzhen Bay
-- (SHENZHEN_BAY), and each port's share of the three.
-- Parameters: {date_from:Date} and {date_to:Date}, the first and last local day (inclusive).
-- Days without a truck at any of the three ports are absent.
SELECT day,
       sumIf(trucks, port_code = 'HUANGGANG') AS huanggang,
       sumIf(trucks, port_code = 'LIANTANG') AS liantang,
       sumIf(trucks, port_code = 'SHENZHEN_BAY') AS shenzhen_bay,
       sum(trucks) AS total,
       huanggang / total AS huanggang_share,
       liantang / total AS liantang_share,
       shenzhen_bay / total AS shenzhen_bay_share
FROM
(
    SELECT day, port_code, uniqExactMerge(crossings) AS trucks
    FROM crossings_daily
    WHERE kind = 'truck'
      AND port_code IN ('HUANGGANG', 'LIANTANG', 'SHENZHEN_BAY')
      AND day BETWEEN {date_from:Date} AND {date_to:Date}
    GROUP BY day, port_code
)
GROUP BY day
ORDER BY day
