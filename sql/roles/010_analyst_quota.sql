-- A quota per analyst user per hour: queries, failed queries, execution time (a sum of query
-- durations: on average one query running at a time), rows read and rows returned. Over it,
-- ClickHouse refuses the user's queries until the hour ends. OR REPLACE, as in 009.
CREATE QUOTA OR REPLACE crossings_analyst_quota
    KEYED BY user_name
    FOR INTERVAL 1 hour MAX queries = 20000, errors = 2000, execution_time = 3600,
        read_rows = 100000000000, result_rows = 1000000000
    TO crossings_analyst;
