"""Open alert episodes, dead letters and pipeline freshness."""

from grafana.dashboards.ops_centre.episodes import OPEN_EPISODES
from grafana.dashboards.ops_centre.throughput import FILTERS
from grafana.panels import panel, panel_sql, port_column_links, thresholds

TITLE = "Alerts and pipeline health"

# the range ends at now on a live board; a replayed day ends at its simulated clock
FRESHNESS = panel_sql("crossings", ["dateDiff('second', max(released_at), $__toTime) AS seconds_since_newest_event"],
                      time_column="released_at", filters=FILTERS)
COUNTS = ["sum(received) AS received", "sum(clean) AS clean", "sum(dead_letters) AS dead_letters",
          "sum(duplicates) AS duplicates", "sum(too_late) AS too_late"]
# the counts of the records that arrived in Kafka in the range (the demo's board: wall-clock range)
RECORD_COUNTS = panel_sql("pipeline_counts", COUNTS, time_column="received_minute", final=True)
# The counts are per minute of arrival in Kafka. The records of the range are those that arrived
# while the range's crossings did: from the minute before the first of them was loaded to the
# last (a live range and its arrival minutes coincide; a simulated or replayed day arrived when
# it was run, and a range on processing time would show 0).
ARRIVED = panel_sql("crossings", ["toStartOfMinute(min(loaded_at)) - INTERVAL 1 MINUTE AS first_minute",
                                  "max(loaded_at) AS last_minute"], time_column="released_at")
RECORD_COUNTS_IN_RANGE = panel_sql(
    f"pipeline_counts FINAL\nCROSS JOIN ({ARRIVED}) AS arrived", COUNTS,
    where=["received_minute >= arrived.first_minute", "received_minute <= arrived.last_minute"])


def panels(settings):
    return [
        thresholds(
            panel("stat", "Open alert episodes",
                  panel_sql(f"({OPEN_EPISODES}) AS open", ["count() AS open_episodes"]),
                  unit="short", width=4, height=8),
            (1, "red"),
        ),
        port_column_links(
            panel("table", "Open alert episodes (raised, not yet resolved)", OPEN_EPISODES, unit="s", width=14,
                  height=8, description="peak and threshold in seconds; click a port for its port detail board")
        ),
        thresholds(
            panel("stat", "Pipeline freshness (now - newest event)", FRESHNESS, unit="s", width=6, height=8,
                  description="seconds from the newest crossing in the warehouse to the end of the range (now); "
                  f"red past {settings.freshness_red_s} s (GRAFANA_FRESHNESS_RED_S)"),
            (settings.freshness_red_s, "red"),
        ),
        panel("timeseries", "Dead letters per minute",
              # the view without payloads that the analysts' role reads (it does FINAL itself)
              panel_sql("dead_letter_reasons",
                        ["count() / greatest($__interval_s / 60, 1) AS dead_letters_per_minute"],
                        time_column="detected_at", bucket=True),
              unit="short", width=12),
        panel("timeseries", "Dead-letter share of received records per topic",
              panel_sql("pipeline_counts",
                        ["topic", "sum(dead_letters) / greatest(sum(received), 1) AS dead_letter_share"],
                        time_column="received_minute", bucket=True, final=True, group_by=["topic"],
                        order_by=["topic"]),
              unit="percentunit", width=12),
        panel("table", "Records received in range: clean, dead letters, duplicates, too late", RECORD_COUNTS_IN_RANGE,
              unit="short", width=24, height=4,
              description="received = clean + dead letters + duplicates; too late is a part of clean. Counted "
              "over the minutes in which the range's crossings arrived (a simulated day arrived when it ran)"),
    ]
