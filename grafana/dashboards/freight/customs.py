"""The customs decisions on trucks: released, inspected and released, held."""

from grafana.dashboards.freight.trucks import TRUCKS
from grafana.panels import panel, panel_sql

TITLE = "Customs decisions"
DECISION = "ifNull(customs_decision, 'unknown') AS decision"


def panels(settings):
    return [
        panel("timeseries", "Customs decisions on trucks",
              panel_sql("crossings", [DECISION, "uniqExact(event_id) AS trucks"], time_column="released_at",
                        bucket=True, final=True, where=[TRUCKS], group_by=["decision"], order_by=["decision"]),
              unit="short", width=16),
        panel("table", "Customs decision mix",
              panel_sql("crossings", [DECISION, "uniqExact(event_id) AS trucks",
                                      "trucks / sum(trucks) OVER () AS share"],
                        time_column="released_at", final=True, where=[TRUCKS], group_by=["decision"],
                        order_by=["decision"]),
              unit="short", width=8),
    ]
