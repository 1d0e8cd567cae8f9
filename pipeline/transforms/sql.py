"""Small builders of Flink SQL text shared by the transforms, and our JVM functions."""

from __future__ import annotations

from pyflink.table import TableEnvironment

ISO_UTC = "yyyy-MM-dd''T''HH:mm:ss''Z''"
# pipeline/jvm, built by make setup; the `crossing-json` format is found by its factory
JAVA_FUNCTIONS = {
    "CLEARANCE_STATS": "crossings.flink.ClearanceStats",
    "ALERT_EPISODES": "crossings.flink.AlertEpisodes",
    "WINDOW_STARTS": "crossings.flink.WindowStarts",
}


def register_functions(env: TableEnvironment) -> None:
    """Our JVM functions, under the names the transforms use."""
    for name, class_name in JAVA_FUNCTIONS.items():
        env.create_java_temporary_system_function(name, class_name)


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def iso(timestamp: str) -> str:
    """A TIMESTAMP as ISO-8601 UTC text with 'Z' (the session time zone is UTC)."""
    return f"DATE_FORMAT({timestamp}, '{ISO_UTC}')"


def plus_seconds(timestamp: str, n: int) -> str:
    """`timestamp` + `n` seconds (an INTERVAL literal of more than 99 s has a precision the
    runtime does not support)."""
    return f"TIMESTAMPADD(SECOND, {n}, {timestamp})"
