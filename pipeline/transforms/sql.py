"""Small builders of Flink SQL text shared by the transforms."""

from __future__ import annotations

from collections.abc import Iterable

from pyflink.table import TableEnvironment

ISO_UTC = "yyyy-MM-dd''T''HH:mm:ss''Z''"
JAVA_FUNCTIONS = {"JSON_FIELDS": "crossings.flink.JsonFields"}  # pipeline/jvm, built by make setup


def register_functions(env: TableEnvironment) -> None:
    """Our JVM functions, under the names the transforms use."""
    for name, class_name in JAVA_FUNCTIONS.items():
        env.create_java_temporary_system_function(name, class_name)


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def one_of(expr: str, values: Iterable[str]) -> str:
    return f"{expr} IN ({', '.join(literal(v) for v in sorted(values))})"


def iso(timestamp: str) -> str:
    """A TIMESTAMP as ISO-8601 UTC text with 'Z' (the session time zone is UTC)."""
    return f"DATE_FORMAT({timestamp}, '{ISO_UTC}')"


def epoch_ms(timestamp: str) -> str:
    """Milliseconds since the epoch of a TIMESTAMP(3), exactly (TIMESTAMPDIFF drops them)."""
    return f"(EXTRACT(EPOCH FROM {timestamp}) * 1000 + EXTRACT(MILLISECOND FROM {timestamp}))"


def plus_seconds(timestamp: str, n: int) -> str:
    """`timestamp` + `n` seconds (an INTERVAL literal of more than 99 s has a precision the
    runtime does not support)."""
    return f"TIMESTAMPADD(SECOND, {n}, {timestamp})"
