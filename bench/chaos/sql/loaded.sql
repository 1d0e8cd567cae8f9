-- Rows of crossings as inserted (a redelivered batch is in twice until merged) and distinct events.
SELECT count() AS rows, uniqExact(event_id) AS events
FROM crossings
