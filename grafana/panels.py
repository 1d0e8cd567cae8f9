"""The one place panel SQL is written, and the panels that carry it.

Every panel query is built by `panel_sql` from a table, its columns and grouping: the time
filter ($__timeFilter / $__dateFilter of the plugin), the $__timeInterval bucket of a time
series, and the port / kind / direction filters from the dashboard's template variables
(`${port:singlequote}` ...). The queries target the official ClickHouse plugin
(grafana-clickhouse-datasource, its query model of PLUGIN_VERSION) through the dashboard's data
source variable `${datasource}`, whose value is the import input `${DS_CLICKHOUSE}`: a stock
Grafana's Import dialog asks for a ClickHouse data source and writes its uid there. The
pipeline-health board's panels use `${prometheus}` (input `${DS_PROMETHEUS}`) the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Literal, Required, TypedDict, Unpack

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig, ReduceDataOptions
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models.common import GraphThresholdsStyleMode
from grafana_foundation_sdk.models.dashboard import (
    Dashboard,
    DashboardLinkType,
    DataSourceRef,
    DynamicConfigValue,
    GridPos,
    Threshold,
    ThresholdsMode,
    VariableOption,
)

from grafana.settings import GrafanaSettings
from schemas.enums import Direction, Kind
from schemas.ports import SHENZHEN_TZ, load_ports

# the plugin release whose query model the targets follow; compose and Kubernetes install it
PLUGIN_VERSION = "4.20.0"
# the provisioned data sources (grafana/provisioning/datasources/); the alert rules name them,
# the dashboards use their variables instead
DATASOURCE_UID = "crossings-clickhouse"
DATASOURCE_TYPE = "grafana-clickhouse-datasource"
PROMETHEUS_UID = "crossings-prometheus"
PROMETHEUS_TYPE = "prometheus"


@dataclass(frozen=True)
class Source:
    """A data source a dashboard asks for: its variable, import input and plugin."""

    variable: str
    label: str
    input: str
    plugin_id: str
    plugin_name: str

    @property
    def ref(self) -> DataSourceRef:
        return DataSourceRef(type_val=self.plugin_id, uid=f"${{{self.variable}}}")


CLICKHOUSE = Source("datasource", "ClickHouse", "DS_CLICKHOUSE", DATASOURCE_TYPE, "ClickHouse")
PROMETHEUS = Source("prometheus", "Prometheus", "DS_PROMETHEUS", PROMETHEUS_TYPE, "Prometheus")
DATASOURCE = CLICKHOUSE.ref
PORT_DETAIL_UID = "crossings-port-detail"

LOCAL_ZONE = f"'{SHENZHEN_TZ}'"
# template variable -> the column it filters
FILTER_COLUMNS = {"port": "port_code", "kind": "kind", "direction": "direction"}

PanelType = Literal["timeseries", "table", "stat"]


def panel_sql(
    table: str,
    columns: Sequence[str],
    *,
    time_column: str | None = None,
    date_column: str | None = None,
    local_date_column: str | None = None,
    bucket: bool = False,
    final: bool = False,
    filters: Sequence[str] = (),
    filter_table: str | None = None,
    where: Sequence[str] = (),
    group_by: Sequence[str] = (),
    having: str | None = None,
    order_by: Sequence[str] = (),
    limit: int | None = None,
) -> str:
    """SELECT `columns` FROM `table` with the dashboard's filters.

    `time_column` (a DateTime) is limited to the dashboard range by $__timeFilter, or
    `date_column` (a Date) by $__dateFilter, or `local_date_column` (a Date of Shenzhen's local
    day) to the local days the range touches (today is in before 08:00 local); with `bucket`, the first column is
    `$__timeInterval(time_column) AS time`, grouped and ordered by. `filters` names template
    variables of FILTER_COLUMNS, their columns qualified by `filter_table` where an alias of
    the same name (`any(port_code) AS port_code`) would shadow them; `table` may be a
    parenthesised subquery with an alias.
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
    if local_date_column is not None:
        first, last = (f"toDate({moment}, {LOCAL_ZONE})" for moment in ("$__fromTime", "$__toTime"))
        conditions.append(f"{local_date_column} >= {first} AND {local_date_column} <= {last}")
    prefix = f"{filter_table}." if filter_table else ""
    conditions += [f"{prefix}{FILTER_COLUMNS[name]} IN (${{{name}:singlequote}})" for name in filters]
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
    query_type: Literal["timeseries", "table"]
    ref_id: str = "A"
    datasource: DataSourceRef = DATASOURCE

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": self.datasource.to_json(),
            "editorType": "sql",
            # sqlds' format: 0 time series, 1 table (the plugin's mapQueryTypeToGrafanaFormat)
            "format": 0 if self.query_type == "timeseries" else 1,
            # a pluginVersion of 4.0.0 or later: the plugin takes the query as is, not as a v3 one
            "pluginVersion": PLUGIN_VERSION,
            "queryType": self.query_type,
            "rawSql": self.raw_sql,
            "refId": self.ref_id,
        }


class ClickHouseTarget(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(self, query: ClickHouseQuery) -> None:
        self._query = query

    def build(self) -> ClickHouseQuery:
        return self._query


@dataclass
class ClickHouseAnnotation:
    """An annotation query of the ClickHouse data source: `sql` returns time, timeEnd, title,
    text and tags columns (Grafana's annotation fields)."""

    name: str
    sql: str
    icon_color: str = "red"

    def to_json(self) -> dict[str, object]:
        return {
            "datasource": DATASOURCE.to_json(),
            "enable": True,
            "hide": False,
            "iconColor": self.icon_color,
            "name": self.name,
            "target": ClickHouseQuery(self.sql, "table", ref_id="annotation").to_json(),
        }


class AnnotationBuilder(cogbuilder.Builder[ClickHouseAnnotation]):
    def __init__(self, annotation: ClickHouseAnnotation) -> None:
        self._annotation = annotation

    def build(self) -> ClickHouseAnnotation:
        return self._annotation


_BUILDERS = {"timeseries": timeseries.Panel, "table": table.Panel, "stat": stat.Panel}


class Layout(TypedDict, total=False):
    """A panel's unit (a Grafana unit id: `short`, `s`, `percentunit` ...), description and size."""

    unit: Required[str]
    description: str
    width: int
    height: int


def panel(kind: PanelType, title: str, sql: str, **layout: Unpack[Layout]) -> cogbuilder.Builder:
    """A panel of `kind` showing `sql` (from `panel_sql`) from the ClickHouse data source."""
    query_type = "timeseries" if kind == "timeseries" else "table"
    query = ClickHouseTarget(ClickHouseQuery(sql, query_type))
    return _layout(_BUILDERS[kind]().datasource(DATASOURCE).with_target(query), kind, title, **layout)


def prometheus_panel(
    kind: PanelType, title: str, expr: str, *, legend: str = "", **layout: Unpack[Layout]
) -> cogbuilder.Builder:
    """A panel of `kind` showing the PromQL `expr` from the Prometheus data source variable;
    `legend` names each series (`{{topic}}`)."""
    query = prometheus.Dataquery().expr(expr).ref_id("A").datasource(PROMETHEUS.ref)
    query = query.instant() if kind == "stat" else query.range()
    if legend:
        query = query.legend_format(legend)
    return _layout(_BUILDERS[kind]().datasource(PROMETHEUS.ref).with_target(query), kind, title, **layout)


def _layout(
    builder: cogbuilder.Builder,
    kind: PanelType,
    title: str,
    *,
    unit: str,
    description: str = "",
    width: int = 12,
    height: int = 8,
) -> cogbuilder.Builder:
    builder = builder.title(title).unit(unit).grid_pos(GridPos(h=height, w=width, x=0, y=0))
    if description:
        builder = builder.description(description)
    if kind == "stat":
        builder = builder.reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    return builder


def thresholds(builder: cogbuilder.Builder, *steps: tuple[float, str], base: str = "green") -> cogbuilder.Builder:
    """`builder` with absolute thresholds: `base` colour below the first step, then each
    (value, colour); a time series draws them as dashed lines."""
    config = (
        dash.ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(value=None, color=base), *(Threshold(value=value, color=color) for value, color in steps)])
    )
    builder = builder.thresholds(config)
    if isinstance(builder, timeseries.Panel):
        builder = builder.thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED))
    return builder


def threshold_override(builder: timeseries.Panel, series: str, value: float, color: str = "red") -> timeseries.Panel:
    """A dashed threshold line at `value` on the series whose display name matches the regular
    expression `series` only."""
    steps = {"mode": "absolute", "steps": [{"color": "green", "value": None}, {"color": color, "value": value}]}
    return builder.override_by_regexp(
        series,
        [
            DynamicConfigValue(id_val="thresholds", value=steps),
            DynamicConfigValue(id_val="custom.thresholdsStyle", value={"mode": "dashed"}),
        ],
    )


def port_detail_link(port: str) -> dash.DashboardLink:
    """A data link to the port_detail board for `port` (a Grafana data-link expression such
    as `${__field.labels.port_code}` or `${__value.raw}`), keeping the time range."""
    return (
        dash.DashboardLink(f"Port detail of {port}")
        .type(DashboardLinkType.LINK)
        .url(f"/d/{PORT_DETAIL_UID}/?var-port={port}&${{__url_time_range}}")
    )


def dashboard_link(title: str, uid: str) -> dash.DashboardLink:
    """A link in the dashboard's header to the board `uid`, with the time range and variables."""
    return dash.DashboardLink(title).type(DashboardLinkType.LINK).url(f"/d/{uid}/").keep_time(True).include_vars(True)


def port_column_links(builder: cogbuilder.Builder, column: str = "port_code") -> cogbuilder.Builder:
    """A table `builder` whose `column` cells link to that port's port_detail board."""
    link = port_detail_link("${__value.raw}").build().to_json()
    return builder.override_by_name(column, [DynamicConfigValue(id_val="links", value=[link])])


def filter_values(name: str) -> tuple[str, ...]:
    """The values of a filter variable: the registry's ports, the kinds, the directions."""
    if name == "port":
        return load_ports().codes
    return tuple(item.value for item in {"kind": Kind, "direction": Direction}[name])


def every_value() -> dict[str, tuple[str, ...]]:
    """Every filter variable with All selected: to expand a panel's SQL outside Grafana."""
    return {name: filter_values(name) for name in FILTER_COLUMNS}


def datasource_variable(source: Source) -> dash.DatasourceVariable:
    """The data source variable of `source`'s plugin, its current value the import input:
    Grafana's Import dialog replaces `${DS_...}` by the data source chosen."""
    value = f"${{{source.input}}}"
    return (
        dash.DatasourceVariable(source.variable)
        .label(source.label)
        .type(source.plugin_id)
        .current(VariableOption(selected=True, text=value, value=value))
    )


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


def choice_variable(name: str, label: str, values: Sequence[object], default: object) -> dash.CustomVariable:
    """A single-value variable over `values`, `default` selected; panel SQL reads `${name}`."""
    return (
        dash.CustomVariable(name)
        .label(label)
        .values(",".join(map(str, values)))
        .allow_custom_value(False)  # the value goes into the SQL as it is
        .current(VariableOption(selected=True, text=str(default), value=str(default)))
        .options([VariableOption(selected=v == default, text=str(v), value=str(v)) for v in values])
    )


def build_dashboard(package: ModuleType, settings: GrafanaSettings) -> Dashboard:
    """The dashboard a package of grafana/dashboards/ declares: UID, TITLE, DESCRIPTION, ROWS
    (modules, each with TITLE and panels(settings)), and optionally SOURCES (data sources
    beyond ClickHouse, e.g. PROMETHEUS), VARIABLES (names of FILTER_COLUMNS), CHOICES (other
    variables, from `choice_variable`), ANNOTATIONS (ClickHouseAnnotation), LINKS (dashboard
    links), REFRESH, TIME_FROM and TIMEZONE; rows are laid out one after the other by the SDK."""
    board = (
        dash.Dashboard(package.TITLE)
        .uid(package.UID)
        .description(package.DESCRIPTION)
        .tags(["crossings"])
        .timezone(getattr(package, "TIMEZONE", "browser"))
        .time(getattr(package, "TIME_FROM", "now-24h"), "now")
        .editable()
    )
    if getattr(package, "REFRESH", None):
        board = board.refresh(package.REFRESH)
    for source in sources(package):
        board = board.with_variable(datasource_variable(source))
    for name in getattr(package, "VARIABLES", ()):
        board = board.with_variable(filter_variable(name))
    for variable in getattr(package, "CHOICES", ()):
        board = board.with_variable(variable)
    for annotation in getattr(package, "ANNOTATIONS", ()):
        board = board.annotation(AnnotationBuilder(annotation))
    for link in getattr(package, "LINKS", ()):
        board = board.link(link)
    for module in package.ROWS:
        board = board.with_row(dash.Row(module.TITLE))
        for item in module.panels(settings):
            board = board.with_panel(item)
    built = board.build()
    for number, item in enumerate(built.panels or [], start=1):
        item.id_val = number
    return built


def sources(package: ModuleType) -> tuple[Source, ...]:
    """The data sources a dashboard package asks for: ClickHouse, then its SOURCES."""
    return (CLICKHOUSE, *getattr(package, "SOURCES", ()))


def import_header(package: ModuleType) -> dict[str, list[dict[str, str]]]:
    """`__inputs` and `__requires` of an exported dashboard: the Import dialog asks for one data
    source per input and replaces `${DS_...}` by its uid."""
    listed = sources(package)
    return {
        "__inputs": [
            {
                "name": s.input,
                "label": s.label,
                "description": "",
                "type": "datasource",
                "pluginId": s.plugin_id,
                "pluginName": s.plugin_name,
            }
            for s in listed
        ],
        "__requires": [
            {
                "type": "datasource",
                "id": s.plugin_id,
                "name": s.plugin_name,
                "version": PLUGIN_VERSION if s is CLICKHOUSE else "",
            }
            for s in listed
        ],
    }
