"""The one place panel SQL is written, and the panels that carry it.

Every panel query is built by `panel_sql` from a table, its columns and grouping: the time
filter ($__timeFilter / $__dateFilter of the plugin), the $__timeInterval bucket of a time
series, and the port / kind / direction filters from the dashboard's template variables
(`${port:singlequote}` ...). The queries target the official ClickHouse plugin
(grafana-clickhouse-datasource) through one provisioned data source of fixed uid.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, table, timeseries
from grafana_foundation_sdk.builders.common import ReduceDataOptions
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.dashboard import Dashboard, DataSourceRef, GridPos, VariableOption

from schemas.enums import Direction, Kind
from schemas.ports import load_ports

DATASOURCE_UID = "crossings-clickhouse"
DATASOURCE_TYPE = "grafana-clickhouse-datasource"
DATASOURCE = DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID)

# template variable -> the column it filters
FILTER_COLUMNS = {"port": "port_code", "kind": "kind", "direction": "direction"}

PanelType = Literal["timeseries", "table", "stat"]


def panel_sql(
    table: str,
    columns: Sequence[str],
    *,
    time_column: str | None = None,
    date_column: str | None = None,
    bucket: bool = False,
    final: bool = False,
    filters: Sequence[str] = (),
    where: Sequence[str] = (),
    group_by: Sequence[str] = (),
    having: str | None = None,
    order_by: Sequence[str] = (),
    limit: int | None = None,
) -> str:
    """SELECT `columns` FROM `table` with the dashboard's filters.

    `time_column` (a DateTime) is limited to the dashboard range by $__timeFilter, or
    `date_column` (a Date) by $__dateFilter; with `bucket`, the first column is
    `$__timeInterval(time_column) AS time`, grouped and ordered by. `filters` names template
    variables of FILTER_COLUMNS; `table` may be a parenthesised subquery with an alias.
    """
    selected = list(columns)
    groups = list(group_by)
    ordering = list(order_by)
    if bucket:
        if time_column is None:
            raise ValueError("a bucketed query needs a time_column")
        selected.insert(0, f"$__timeInterval({time_column}) AS time")
        groups.insert(0, "time")
        ordering.insert(0, "time")
    conditions = []
    if time_column is not None:
        conditions.append(f"$__timeFilter({time_column})")
    if date_column is not None:
        conditions.append(f"$__dateFilter({date_column})")
    conditions += [f"{FILTER_COLUMNS[name]} IN (${{{name}:singlequote}})" for name in filters]
    conditions += list(where)
    lines = [f"SELECT {', '.join(selected)}", f"FROM {table}{' FINAL' if final else ''}"]
    if conditions:
        lines.append("WHERE " + "\n  AND ".join(conditions))
    if groups:
        lines.append(f"GROUP BY {', '.join(groups)}")
    if having:
        lines.append(f"HAVING {having}")
    if ordering:
        lines.append(f"ORDER BY {', '.join(ordering)}")
    if limit is not None:
        lines.append(f"LIMIT {limit}")
    return "\n".join(lines)


@dataclass
class ClickHouseQuery(cogvariants.Dataquery):
    """A raw-SQL target of grafana-clickhouse-datasource (its CHSqlQuery)."""

    raw_sql: str
    query_type: Literal["timeSeries", "table"]
    ref_id: str = "A"

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": DATASOURCE.to_json(),
            "editorType": "sql",
            "format": 0 if self.query_type == "timeSeries" else 1,
            "queryType": self.query_type,
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
        }


class ClickHouseTarget(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, query: ClickHouseQuery) -> None:
        self._query = query

    def build(self) -> ClickHouseQuery:
        return self._query


_BUILDERS = {"timeseries": timeseries.Panel, "table": table.Panel, "stat": stat.Panel}


def panel(
    kind: PanelType,
    title: str,
    sql: str,
    *,
    description: str = "",
    unit: str | None = None,
    width: int = 12,
    height: int = 8,
) -> cogbuilder.Builder:
    """A panel of `kind` showing `sql` (from `panel_sql`) from the ClickHouse data source."""
    query_type = "timeSeries" if kind == "timeseries" else "table"
    builder = (
        _BUILDERS[kind]()
        .title(title)
        .datasource(DATASOURCE)
        .with_target(ClickHouseTarget(ClickHouseQuery(sql, query_type)))
        .grid_pos(GridPos(h=height, w=width, x=0, y=0))
    )
    if description:
        builder = builder.description(description)
    if unit is not None:
        builder = builder.unit(unit)
    if kind == "stat":
        builder = builder.reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    return builder


def filter_values(name: str) -> tuple[str, ...]:
    """The values of a filter variable: the registry's ports, the kinds, the directions."""
    if name == "port":
        return load_ports().codes
    return tuple(item.value for item in {"kind": Kind, "direction": Direction}[name])


def filter_variable(name: str) -> dash.CustomVariable:
    """A multi-value variable over `filter_values(name)`, with All (every value) selected."""
    values = filter_values(name)
    everything = VariableOption(selected=True, text="All", value="$__all")
    return (
        dash.CustomVariable(name)
        .label(name.capitalize())
        .values(",".join(values))
        .multi(True)
        .include_all(True)
        .current(everything)
        .options([everything, *(VariableOption(selected=False, text=v, value=v) for v in values)])
    )


def build_dashboard(package: ModuleType) -> Dashboard:
    """The dashboard a package of grafana/dashboards/ declares: UID, TITLE, DESCRIPTION, ROWS
    (modules, each with TITLE and panels()), and optionally VARIABLES (names of
    FILTER_COLUMNS), REFRESH and TIME_FROM; rows are laid out one after the other by the SDK."""
    board = (
        dash.Dashboard(package.TITLE)
        .uid(package.UID)
        .description(package.DESCRIPTION)
        .tags(["crossings"])
        .timezone("browser")
        .time(getattr(package, "TIME_FROM", "now-24h"), "now")
        .editable()
    )
    if getattr(package, "REFRESH", None):
        board = board.refresh(package.REFRESH)
    for name in getattr(package, "VARIABLES", ()):
        board = board.with_variable(filter_variable(name))
    for module in package.ROWS:
        board = board.with_row(dash.Row(module.TITLE))
        for item in module.panels():
            board = board.with_panel(item)
    built = board.build()
    for number, item in enumerate(built.panels or [], start=1):
        item.id_val = number
    return built
