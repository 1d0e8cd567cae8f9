"""Open alert episodes, dead letters and pipeline freshness."""

from grafana.panels import panel, panel_sql

TITLE = "Alerts and pipeline health"

OPEN_EPISODES = panel_sql(
    "alerts",
    ["episode_id", "any(port_code) AS port_code", "any(kind) AS kind", "any(direction) AS direction",
     "argMax(severity, version) AS severity", "min(started_at) AS raised_at",
     "max(peak_p90_s) AS peak_p90_s", "any(threshold_s) AS threshold_s"],
    final=True, group_by=["episode_id"], having="countIf(state = 'resolved') = 0", order_by=["raised_at"])
# the range ends at now on a live board; a replayed day ends at its simulated clock
FRESHNESS = panel_sql("crossings", ["dateDiff('second', max(released_at), $__toTime) AS seconds_since_newest_event"],
                      time_column="released_at")
RECORD_COUNTS = panel_sql(
    "pipeline_counts",
    ["sum(received) AS received", "sum(clean) AS clean", "sum(dead_letters) AS dead_letters",
     "sum(duplicates) AS duplicates", "sum(too_late) AS too_late"],
    time_column="received_minute", final=True)


def panels():
    return [
        panel("stat", "Open alert episodes", panel_sql(f"({OPEN_EPISODES}) AS open", ["count() AS open_episodes"]),
              width=4, height=8),
        panel("table", "Open alert episodes (raised, not yet resolved)", OPEN_EPISODES, width=14, height=8),
        panel("stat", "Pipeline freshness (now - newest event)", FRESHNESS, unit="s", width=6, height=8,
              description="seconds from the newest crossing in the warehouse to the end of the range (now)"),
        panel("timeseries", "Dead letters per minute",
              # the view without payloads that the analysts' role reads (it does FINAL itself)
              panel_sql("dead_letter_reasons",
                        ["count() / greatest($__interval_s / 60, 1) AS dead_letters_per_minute"],
                        time_column="detected_at", bucket=True),
              width=12),
        panel("timeseries", "Dead-letter share of received records per topic",
              panel_sql("pipeline_counts",
                        ["topic", "sum(dead_letters) / greatest(sum(received), 1) AS dead_letter_share"],
                        time_column="received_minute", bucket=True, final=True, group_by=["topic"],
                        order_by=["topic"]),
              unit="percentunit", width=12),
        panel("table", "Records received in range: clean, dead letters, duplicates, too late", RECORD_COUNTS,
              description="received = clean + dead letters + duplicates; too late is a part of clean",
              width=24, height=4),
    ]
