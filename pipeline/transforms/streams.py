"""Per-record stages after the parse: lateness per port stream, and the first of each event."""

from __future__ import annotations

from pyflink.table import Table, TableEnvironment

from pipeline.transforms.sql import plus_seconds


def mark_lateness(env: TableEnvironment, parsed: Table, out_of_orderness_s: int, allowed_lateness_s: int) -> Table:
    """Adds `too_late`: the record's event time is more than the out-of-orderness plus the
    allowed lateness behind the latest event time seen so far on its stream (source topic and
    port), dead letters with a plausible time included.

    A port's events of one kind arrive in order on one partition, so this is decided the
    same way at any parallelism and on any replay; a slow port or topic cannot make another
    one's events late. Too-late events update no window but still reach the clean topic.
    `parsed.event_time` must be the rowtime."""
    behind = -(out_of_orderness_s + allowed_lateness_s)
    columns = ", ".join(f"`{name}`" for name in parsed.get_schema().get_field_names())
    return env.sql_query(f"""
        SELECT {columns}, COALESCE(event_time < {plus_seconds("stream_max_time", behind)}, FALSE) AS too_late
        FROM (
          SELECT *, MAX(CAST(event_time AS TIMESTAMP(3))) OVER (
            PARTITION BY `topic`, port_code ORDER BY proctime
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS stream_max_time
          FROM {parsed})""")


def first_occurrences(env: TableEnvironment, valid: Table) -> Table:
    """The first record of each `event_id`; later ones are duplicates. Keep-first on keyed
    state (a running count per id) rather than Flink's Deduplicate operator, whose output is
    not insert-only with mini-batching on (which the window aggregations need). How long an
    id is remembered is the job's state TTL (the dedup window)."""
    columns = ", ".join(f"`{name}`" for name in valid.get_schema().get_field_names())
    return env.sql_query(f"""
        SELECT {columns} FROM (
          SELECT *, COUNT(*) OVER (
            PARTITION BY event_id ORDER BY proctime
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS occurrence
          FROM {valid})
        WHERE occurrence = 1""")
