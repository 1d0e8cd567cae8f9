"""Window results: throughput per minute and clearance figures over 5-minute slides.

The published windows are regular aggregations keyed by window start and dimensions, not
event-time window operators: every on-time or late (within the allowed lateness) event
updates its windows, and the sinks carry the updates as upserts, so the last value per key is
right. Updates are mini-batched (on processing time) and aggregated locally before each
exchange. The alerts read the clearance windows too, each once final (`transforms.alerts`).
"""

from __future__ import annotations

from pyflink.table import Table, TableEnvironment

from pipeline.transforms.sql import iso

CLEARANCE_WINDOW_MINUTES = 5
CLEARANCE_FIGURES = ("crossings", "mean_s", "p50_s", "p90_s", "p99_s", "max_s")


def _ttl_hint(alias: str, ttl_min: int) -> str:
    return f"/*+ STATE_TTL('{alias}' = '{ttl_min}min') */"


def _figures(stats: str) -> str:
    return ", ".join(f"{stats}.{name} AS {name}" for name in CLEARANCE_FIGURES)


def throughput(env: TableEnvironment, on_time: Table, state_ttl_min: int) -> Table:
    """Crossings per 1-minute tumbling window, port, kind, direction and channel type."""
    return env.sql_query(f"""
        SELECT {iso("window_start")} AS window_start,
               {iso("window_start + INTERVAL '1' MINUTE")} AS window_end,
               port_code, kind, direction, channel_type, crossings
        FROM (
          SELECT {_ttl_hint("e", state_ttl_min)}
                 FLOOR(e.event_time TO MINUTE) AS window_start,
                 port_code, kind, direction, channel_type, COUNT(*) AS crossings
          FROM {on_time} AS e
          GROUP BY FLOOR(e.event_time TO MINUTE), port_code, kind, direction, channel_type)""")


def clearance_windows(env: TableEnvironment, on_time: Table, state_ttl_min: int) -> Table:
    """Clearance count, mean, exact p50/p90/p99 and max over 5-minute windows sliding every
    minute, per port, kind and direction (`window_start` a TIMESTAMP). Each event goes to the 5
    windows holding it (`WINDOW_STARTS`, in the operator that reads the event); the local
    aggregation before the exchange folds those copies into one update per window."""
    return env.sql_query(f"""
        SELECT window_start, port_code, kind, direction, {_figures("stats")}
        FROM (
          SELECT {_ttl_hint("w", state_ttl_min)}
                 w.window_start, port_code, kind, direction, CLEARANCE_STATS(clearance_ms) AS stats
          FROM (
            SELECT s.window_start, port_code, kind, direction, clearance_ms
            FROM (SELECT CAST(event_time AS TIMESTAMP(3)) AS event_time, port_code, kind, direction, clearance_ms
                  FROM {on_time}) AS e,
                 LATERAL TABLE(WINDOW_STARTS(e.event_time, {CLEARANCE_WINDOW_MINUTES})) AS s (window_start)) AS w
          GROUP BY w.window_start, port_code, kind, direction)""")


def clearance(env: TableEnvironment, windows: Table) -> Table:
    """The clearance windows as published: bounds as ISO-8601 UTC text."""
    return env.sql_query(f"""
        SELECT {iso("window_start")} AS window_start,
               {iso(f"window_start + INTERVAL '{CLEARANCE_WINDOW_MINUTES}' MINUTE")} AS window_end,
               port_code, kind, direction, {", ".join(CLEARANCE_FIGURES)}
        FROM {windows}""")
