-- Rows ClickHouse refused for good, per table and topic (the run writes one poison row).
SELECT table_name, topic, count() AS rows
FROM load_rejects FINAL
GROUP BY table_name, topic
