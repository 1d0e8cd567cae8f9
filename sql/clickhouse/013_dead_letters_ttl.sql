-- Dead letters are kept CLICKHOUSE_DEAD_LETTERS_TTL_DAYS days (30 by default) after they were
-- detected. Their payloads hold refs, never clear identifiers, but they are raw input all the
-- same: kept long enough to find and fix a producer, no longer. `crossings migrate` applies
-- this again whenever the table's TTL is no longer the one the setting gives.
ALTER TABLE dead_letters MODIFY TTL detected_at + INTERVAL {dead_letters_ttl_days} DAY
