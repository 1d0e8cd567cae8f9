"""Per-record stages around validation: lateness per port stream and duplicate numbering."""

from __future__ import annotations

from pyflink.table import Table, TableEnvironment

from pipeline.transforms.sql import plus_seconds


def mark_lateness(env: TableEnvironment, extracted: Table, out_of_orderness_s: int,
                  allowed_lateness_s: int) -> Table:
    """Adds `too_late`: the event's time is more than the out-of-orderness plus the allowed
    lateness behind the latest event time seen so far on its stream (source topic and port).

    A port's events of one kind arrive in order on one partition, so this is decided the
    same way at any parallelism and on any replay; a slow port or topic cannot make another
    one's events late. Too-late events update no window but still reach the clean topic.
    `extracted.event_time` must be the rowtime and `fields` the payload's fields."""
    behind = -(out_of_orderness_s + allowed_lateness_s)
    return env.sql_query(f"""
        SELECT *, COALESCE(event_time < {plus_seconds('stream_max_time', behind)}, FALSE) AS too_late
        FROM (
          SELECT *, MAX(CAST(event_time AS TIMESTAMP(3))) OVER (
            PARTITION BY `topic`, fields['port_code'] ORDER BY proctime
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS stream_max_time
          FROM {extracted})""")


def number_occurrences(env: TableEnvironment, valid: Table) -> Table:
    """Adds `occurrence`: 1 for the first record of an `event_id`, 2 for its first duplicate, ...
    How long an id is remembered is the job's state TTL (the dedup window)."""
    return env.sql_query(f"""
        SELECT *, COUNT(*) OVER (
          PARTITION BY event_id ORDER BY proctime
          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS occurrence
        FROM {valid}""")
