-- The writer sets the TTL of a table from a setting (sql/clickhouse/013_dead_letters_ttl.sql,
-- applied again by `crossings migrate` when CLICKHOUSE_DEAD_LETTERS_TTL_DAYS changes).
GRANT ALTER TTL, ALTER MATERIALIZE TTL ON crossings.* TO crossings_writer;
