"""Reconciliation counts: for any input, raw = clean + dead letters + dropped duplicates."""

from __future__ import annotations

from pyflink.table import Table, TableEnvironment

from pipeline.transforms.sql import iso


def pipeline_counts(env: TableEnvironment, checked: Table, numbered: Table) -> Table:
    """Per source topic and minute of arrival: received (raw), clean, dead letters, duplicates, too late."""
    minute = iso("FLOOR(CAST(received_at AS TIMESTAMP(3)) TO MINUTE)")
    return env.sql_query(f"""
        SELECT received_minute, `topic`, SUM(received) AS received, SUM(clean) AS clean,
               SUM(dead_letters) AS dead_letters, SUM(duplicates) AS duplicates,
               SUM(too_late) AS too_late
        FROM (
          SELECT {minute} AS received_minute, `topic`, 1 AS received, 0 AS clean,
                 CASE WHEN reason IS NULL THEN 0 ELSE 1 END AS dead_letters,
                 0 AS duplicates, 0 AS too_late
          FROM {checked}
          UNION ALL
          SELECT {minute} AS received_minute, `topic`, 0 AS received,
                 CASE WHEN occurrence = 1 THEN 1 ELSE 0 END AS clean, 0 AS dead_letters,
                 CASE WHEN occurrence > 1 THEN 1 ELSE 0 END AS duplicates,
                 CASE WHEN occurrence = 1 AND too_late THEN 1 ELSE 0 END AS too_late
          FROM {numbered})
        GROUP BY received_minute, `topic`""")
