"""Expands panel SQL as Grafana and the ClickHouse plugin (grafana-clickhouse-datasource) do
before a query reaches ClickHouse, so tests and offline reports can run the dashboards' SQL.

Template variables first, as Grafana does in the browser: `${name:singlequote}`,
`${name:csv}`, `${name:raw}`, `${name}` and `$name`; the "All" selection is every option of
the variable (or its custom all value, unformatted). Then the plugin's macros, as in its
pkg/macros/macros.go: `$__timeFilter(col)` -> `col >= toDateTime(<from s>) AND col <=
toDateTime(<to s>)`, `$__fromTime`, `$__toTime`, the `_ms` forms with
`fromUnixTimestamp64Milli`, `$__dateFilter(col)` with `toDate('YYYY-MM-DD')`,
`$__dateTimeFilter(date, time)` (`$__dt`), `$__timeInterval(col)` ->
`toStartOfInterval(toDateTime(col), INTERVAL <n> second)` and `$__interval_s`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ALL = "$__all"

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z]+))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_MACRO = re.compile(r"\$__([A-Za-z_]+)")


class MacroError(ValueError):
    """An unknown macro or variable, or a macro with the wrong arguments."""


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime
    interval_s: float = 60

    def __post_init__(self) -> None:
        for moment in (self.start, self.end):
            if moment.tzinfo is None:
                raise MacroError("time range bounds must be timezone-aware")


def expand(sql: str, time_range: TimeRange, variables: Mapping[str, Sequence[str]] | None = None) -> str:
    """`sql` with its template variables (name -> selected values) and macros replaced."""
    return expand_macros(expand_variables(sql, variables or {}), time_range)


def expand_variables(sql: str, variables: Mapping[str, Sequence[str]]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name.startswith("__"):  # a macro, left to expand_macros
            return match.group(0)
        if name not in variables:
            raise MacroError(f"no value for the template variable {name!r}")
        return _format(list(variables[name]), match.group(2) or "", name)

    return _VARIABLE.sub(replace, sql)


def _format(values: list[str], fmt: str, name: str) -> str:
    if fmt == "singlequote":
        return ",".join("'" + value.replace("'", "\\'") + "'" for value in values)
    if fmt == "doublequote":
        return ",".join('"' + value.replace('"', '\\"') + '"' for value in values)
    if fmt == "csv":
        return ",".join(values)
    if fmt in ("", "raw") and len(values) == 1:
        return values[0]
    raise MacroError(f"${{{name}:{fmt}}}: format not supported for {len(values)} values")


def dashboard_variables(
    dashboard: Mapping[str, Any], selection: Mapping[str, Sequence[str] | str] | None = None
) -> dict[str, list[str]]:
    """Selected values of each template variable of a dashboard's JSON: `selection` (name ->
    values, or ALL) over the dashboard's current value; ALL becomes every option of the
    variable, or its custom all value. Data source variables are left out."""
    selection = selection or {}
    resolved = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") == "datasource":  # picks the data source, never in the SQL
            continue
        name = variable["name"]
        chosen = selection.get(name, variable.get("current", {}).get("value", ALL))
        chosen = [chosen] if isinstance(chosen, str) else list(chosen)
        if ALL in chosen:
            if variable.get("allValue"):
                chosen = [variable["allValue"]]
            else:
                chosen = [option["value"] for option in variable.get("options", []) if option["value"] != ALL]
        resolved[name] = chosen
    return resolved


def expand_macros(sql: str, time_range: TimeRange) -> str:
    out = []
    position = 0
    for match in _MACRO.finditer(sql):
        if match.start() < position:  # inside the arguments of a macro already replaced
            continue
        name = match.group(1)
        args: list[str] = []
        end = match.end()
        if end < len(sql) and sql[end] == "(":
            close = _closing_parenthesis(sql, end)
            args = [arg.strip() for arg in _split_arguments(sql[end + 1 : close])]
            end = close + 1
        out.append(sql[position : match.start()])
        out.append(_macro(name, args, time_range))
        position = end
    out.append(sql[position:])
    return "".join(out)


def _closing_parenthesis(sql: str, opening: int) -> int:
    depth = 0
    for index in range(opening, len(sql)):
        if sql[index] == "(":
            depth += 1
        elif sql[index] == ")":
            depth -= 1
            if depth == 0:
                return index
    raise MacroError(f"unbalanced parentheses after {sql[:opening]!r}")


def _split_arguments(text: str) -> list[str]:
    if not text.strip():
        return []
    args, depth, current = [], 0, []
    for char in text:
        if char == "," and depth == 0:
            args.append("".join(current))
            current = []
            continue
        depth += char == "("
        depth -= char == ")"
        current.append(char)
    args.append("".join(current))
    return args


def _seconds(moment: datetime) -> str:
    return f"toDateTime({int(moment.timestamp())})"


def _millis(moment: datetime) -> str:
    return f"fromUnixTimestamp64Milli({int(moment.timestamp() * 1000)})"


def _date(moment: datetime) -> str:
    return f"toDate('{moment.astimezone(UTC).date().isoformat()}')"


def _between(column: str, low: str, high: str) -> str:
    return f"{column} >= {low} AND {column} <= {high}"


def _macro(name: str, args: list[str], time_range: TimeRange) -> str:
    start, end = time_range.start, time_range.end
    interval = max(time_range.interval_s, 1)
    without_args = {
        "fromTime": lambda: _seconds(start),
        "toTime": lambda: _seconds(end),
        "fromTime_ms": lambda: _millis(start),
        "toTime_ms": lambda: _millis(end),
        "interval_s": lambda: str(int(interval)),
    }
    one_arg = {
        "timeFilter": lambda c: _between(c, _seconds(start), _seconds(end)),
        "timeFilter_ms": lambda c: _between(c, _millis(start), _millis(end)),
        "dateFilter": lambda c: _between(c, _date(start), _date(end)),
        "timeInterval": lambda c: f"toStartOfInterval(toDateTime({c}), INTERVAL {int(interval)} second)",
        "timeInterval_ms": lambda c: (
            f"toStartOfInterval(toDateTime64({c}, 3), INTERVAL {max(int(interval * 1000), 1)} millisecond)"
        ),
    }
    if name in without_args:
        return without_args[name]()
    if name in one_arg:
        if len(args) != 1:
            raise MacroError(f"$__{name} takes 1 argument, got {len(args)}")
        return one_arg[name](args[0])
    if name in ("dateTimeFilter", "dt"):
        if len(args) != 2:
            raise MacroError(f"$__{name} takes 2 arguments, got {len(args)}")
        return (
            f"({_between(args[0], _date(start), _date(end))}) AND ({_between(args[1], _seconds(start), _seconds(end))})"
        )
    raise MacroError(f"unknown macro $__{name}")
