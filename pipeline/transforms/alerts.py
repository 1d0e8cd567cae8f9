"""Clearance spike alerts with hysteresis, over the final clearance slides.

An episode opens when a port/kind/direction's 5-minute p90 clearance is above the port's
threshold for 3 consecutive slides (never while the port is closed), and closes after 5
consecutive slides below 80% of the threshold. A missing slide (no crossings in 5 minutes)
counts as below, and so does a slide of fewer than 5 crossings: the p90 of one or two slow
trucks is no spike. Each episode gives exactly one `raised` and one `resolved` message; its
severity is `critical` once the p90 has exceeded twice the threshold, else `warning`.

The state machine is the JVM process table function ALERT_EPISODES
(pipeline/jvm/crossings/flink/AlertEpisodes.java), keyed by port, kind and direction. It reads
the published clearance windows and takes each as final when the watermark passes its end,
with a timer for slides that do not come; this module gives it the port registry.
"""

from __future__ import annotations

import json

from pyflink.table import Table, TableEnvironment

from pipeline.transforms.sql import literal
from schemas.outputs import Alert
from schemas.ports import MIN_WINDOW_CROSSINGS, PortRegistry, load_ports

ALERT_FIELDS = list(Alert.model_fields)


def alert_registry(ports: PortRegistry | None = None) -> str:
    """Thresholds and opening hours per port and kind, as ALERT_EPISODES reads them."""

    def hours(port, kind) -> list[str] | None:
        opening = port.opening_hours[kind]
        return None if opening is None else [f"{at:%H:%M}" for at in opening]

    return json.dumps(
        {
            "min_crossings": MIN_WINDOW_CROSSINGS,
            "ports": {
                port.code: {
                    kind.value: {"threshold_s": port.clearance_threshold_s[kind], "hours": hours(port, kind)}
                    for kind in sorted(port.kinds)
                }
                for port in ports or load_ports()
            },
        },
        separators=(",", ":"),
    )


def alert_episodes(env: TableEnvironment, windows: Table, ports: PortRegistry | None = None) -> Table:
    """The raised and resolved messages of the episodes in the clearance `windows` (an
    updating table of window_start, port_code, kind, direction, p90_s and crossings)."""
    return env.sql_query(f"""
        SELECT {", ".join(ALERT_FIELDS)}
        FROM ALERT_EPISODES(
          input => TABLE {windows} PARTITION BY (port_code, kind, direction),
          ports => {literal(alert_registry(ports))},
          uid => 'alert-episodes')""")
