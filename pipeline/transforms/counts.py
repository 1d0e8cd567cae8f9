"""Reconciliation counts: for any input, raw = clean + dead letters + dropped duplicates."""

from __future__ import annotations

from pyflink.table import Table, TableEnvironment

from pipeline.transforms.sql import iso


def pipeline_counts(env: TableEnvironment, parsed: Table, clean: Table) -> Table:
    """Per source topic and minute of arrival: received (raw), clean, dead letters, duplicates
    (valid records that were not the first of their event) and too late (clean events that
    updated no window). The minute is that of the record's Kafka timestamp (`arrived_at`), not
    of its processing: a job restored from a checkpoint reads the same records again, and
    they must count in the same minutes, or the minutes counted before the crash would keep
    them twice."""
    return env.sql_query(f"""
        SELECT {iso("arrival_minute")} AS received_minute, `topic`, SUM(received) AS received,
               SUM(clean) AS clean, SUM(dead_letters) AS dead_letters,
               SUM(valid) - SUM(clean) AS duplicates, SUM(too_late) AS too_late
        FROM (
          SELECT FLOOR(arrived_at TO MINUTE) AS arrival_minute, `topic`, 1 AS received, 0 AS clean,
                 CASE WHEN reason IS NULL THEN 0 ELSE 1 END AS dead_letters,
                 CASE WHEN reason IS NULL THEN 1 ELSE 0 END AS valid, 0 AS too_late
          FROM {parsed}
          UNION ALL
          SELECT FLOOR(arrived_at TO MINUTE) AS arrival_minute, `topic`, 0 AS received, 1 AS clean,
                 0 AS dead_letters, 0 AS valid, CASE WHEN too_late THEN 1 ELSE 0 END AS too_late
          FROM {clean})
        GROUP BY arrival_minute, `topic`""")
