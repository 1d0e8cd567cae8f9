-- Analysts read the dead letters through the view crossings.dead_letter_reasons (no payload,
-- sql/clickhouse/014), not the table: a partial revoke of the SELECT ON crossings.* of 004.
REVOKE SELECT ON crossings.dead_letters FROM crossings_analyst;
