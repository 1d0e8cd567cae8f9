-- Analysts and Grafana: read only. readonly = 2 forbids writes and DDL but lets a session
-- change its settings (max_execution_time, max_result_rows, ...), which Grafana's
-- ClickHouse data source does on every query (readonly = 1 would reject it).
CREATE ROLE IF NOT EXISTS crossings_analyst SETTINGS readonly = 2;
