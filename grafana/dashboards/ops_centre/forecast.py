"""The clearance forecast against what came (clearance_forecast, issue 21): per port and kind,
the p90 of each 5-minute window next to the p90 forecast for that window `${horizon}` minutes
earlier; the early warnings (forecast episodes of the alerts table) with their diversion
advice, as a table and as annotations."""

from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from grafana.dashboards.ops_centre.clearance import with_port_thresholds
from grafana.dashboards.ops_centre.episodes import FORECAST, IN_RANGE, KEY, OPEN, annotation, episodes_sql
from grafana.dashboards.ops_centre.throughput import FILTERS
from grafana.panels import choice_variable, panel, panel_sql, port_column_links
from pipeline.transforms.forecast import HORIZONS_MIN, WARNING_HORIZON_MIN
from pipeline.transforms.windows import CLEARANCE_WINDOW_MINUTES

TITLE = "Forecast and early warnings"

HORIZON = choice_variable("horizon", "Forecast horizon (min)", HORIZONS_MIN, WARNING_HORIZON_MIN)

KEYS = ["window_end", "port_code", "kind", "direction"]


def key_range(column: str, minutes_before: int | str) -> list[str]:
    """The range on a table's first sorting key `column`, which is `minutes_before` the time
    filtered: what lets ClickHouse read only the range's parts and granules."""
    return [f"{column} >= $__fromTime - INTERVAL {minutes_before} MINUTE", f"{column} <= $__toTime"]


# windows ending in the range: the outer query's $__timeFilter(window_end)
WINDOWS = panel_sql("clearance_windows", [*KEYS, "crossings", "p90_s"], final=True, filters=FILTERS,
                    where=["crossings > 0", *key_range("window_start", CLEARANCE_WINDOW_MINUTES)])
# Nullable: a window without its forecast joins NULL, which the sums below skip
FORECASTS = panel_sql("clearance_forecast", ["target_at AS window_end", "port_code", "kind", "direction",
                                             "toNullable(p90_s) AS forecast_p90_s"],
                      time_column="target_at", final=True, filters=FILTERS,
                      where=["horizon_min = ${horizon}", *key_range("issued_at", "${horizon}")])
# Both crossings-weighted over directions and windows, the forecast over the windows it was
# issued for: the actual and the forecast p90 of the same crossings (NULL without a forecast).
ACTUAL_AND_FORECAST = panel_sql(
    f"({WINDOWS}) AS windows\nLEFT JOIN ({FORECASTS}) AS forecasts USING ({', '.join(KEYS)})",
    ["port_code", "kind", "sum(p90_s * crossings) / sum(crossings) AS actual_p90_s",
     "sum(forecast_p90_s * crossings) / sumIf(crossings, forecast_p90_s IS NOT NULL) AS forecast_p90_s"],
    time_column="window_end", bucket=True, group_by=["port_code", "kind"], order_by=["port_code", "kind"])


def _raised(column: str) -> str:
    return f"anyIf({column}, state = 'raised')"


# the advice the warning was raised with; NULL where the port has no peer forecasting less
ADVICE = (f"concat('divert to ', {_raised('advice_port_code')}, ': expected ', "
          f"toString(round({_raised('advice_forecast_s')} / 60)), ' min, ', "
          f"toString(round({_raised('advice_difference_min')}, 1)), ' min less')")

# the open early warnings first, then the range's
EARLY_WARNINGS = episodes_sql(
    FORECAST,
    [*KEY, "min(started_at) AS raised_at", "max(ended_at) AS resolved_at", "max(peak_p90_s) AS peak_forecast_s",
     "any(threshold_s) AS threshold_s", f"{ADVICE} AS advice"],
    having=f"{OPEN} OR ({IN_RANGE})", order_by=[f"{OPEN} DESC", "raised_at DESC"])

ANNOTATION = annotation("Early warnings", "Early warning", episode_type=FORECAST, peak="forecast p90",
                        detail=ADVICE, icon_color="orange")


def panels(settings):
    dotted = DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dot", "dash": [0, 10]})
    return [
        with_port_thresholds(
            panel("timeseries", "Clearance p90 forecast ${horizon} min earlier against the actual, per port and kind",
                  ACTUAL_AND_FORECAST, unit="s", width=14, height=9,
                  description="each 5-minute window's p90 (by its end) and the forecast issued for it "
                  "${horizon} min before (dotted); dashed: the port's alert threshold")
        ).override_by_regexp("^forecast_p90_s", [dotted]),
        port_column_links(
            panel("table", "Early warnings (open first) and diversion advice", EARLY_WARNINGS, unit="s", width=10,
                  height=9, description="raised when the 30-minute forecast is above the port's threshold for "
                  "3 minutes; advice, as of the raise: the peer port with the lowest forecast for the same kind and "
                  "direction")
        ),
    ]
