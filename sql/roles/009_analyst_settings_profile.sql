-- Bounds an analyst or a Grafana Explore user cannot lift: readonly stays 2 (no write, no DDL;
-- other settings may change, as Grafana's data source needs), a query runs at most 300 s and
-- 4 GB of memory (60 s and 2 GB unless the session asks for more), and neither may be 0, which
-- would mean unlimited. OR REPLACE: applying the file again sets the bounds it gives now.
CREATE SETTINGS PROFILE OR REPLACE crossings_analyst_limits
    SETTINGS readonly = 2 CONST,
             max_execution_time = 60 MIN 1 MAX 300,
             max_memory_usage = 2000000000 MIN 1 MAX 4000000000
    TO crossings_analyst;
