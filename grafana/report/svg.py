"""Inline SVG line charts for the offline report, drawn from plain numbers: no script, font or
image from the network. Every text is escaped; times are epoch seconds shown in UTC."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

# Grafana's classic series colours
PALETTE = (
    "#7eb26d",
    "#eab839",
    "#6ed0e0",
    "#ef843c",
    "#e24d42",
    "#1f78c1",
    "#ba43a9",
    "#705da0",
    "#508642",
    "#cca300",
    "#447ebc",
    "#c15c17",
)
# candidate steps of the time axis, seconds: 1 min ... 1 week
TIME_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400, 172800, 604800)
# steps of a seconds axis: round seconds, minutes, hours
DURATION_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 12, 40  # plot margins, px
LEGEND_ROW = 18  # px per legend line
MARKERS_UP_TO = 60  # points of a series drawn as dots too (a lone point has no line)
FONT = 'font-family="sans-serif" font-size="11" fill="#444"'

Point = tuple[float, float | None]


def linear(value: float, domain: tuple[float, float], span: tuple[float, float]) -> float:
    """`value` mapped from `domain` onto `span` (the middle of `span` for an empty domain)."""
    (low, high), (start, end) = domain, span
    if high == low:
        return (start + end) / 2
    return start + (value - low) * (end - start) / (high - low)


def nice_ticks(low: float, high: float, count: int = 5, steps: Sequence[float] = ()) -> list[float]:
    """About `count` round ticks from at or below `low` to at or above `high`: steps of 1, 2
    or 5 times a power of ten, or the first of `steps` that is large enough."""
    if low > high:
        raise ValueError(f"tick range from {low} above its end {high}")
    if low == high:
        low, high = (low - 1, high + 1) if low else (0.0, 1.0)
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    candidates = [*steps, *(m * magnitude for m in (1, 2, 5, 10))]
    step = next(s for s in candidates if s >= raw * (1 - 1e-9))
    digits = max(0, -math.floor(math.log10(step)))
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(index * step, digits) for index in range(first, last + 1)]


def time_ticks(start: float, end: float, count: int = 6) -> tuple[list[float], int]:
    """Ticks on round UTC times within [start, end], at most about `count`, and their step."""
    span = max(end - start, 1)
    step = next((s for s in TIME_STEPS if span / s <= count), TIME_STEPS[-1] * math.ceil(span / count / TIME_STEPS[-1]))
    first = math.ceil(start / step) * step
    return [float(t) for t in range(int(first), int(end) + 1, step)], step


def time_label(moment: float, step: int, span: float) -> str:
    """HH:MM within a day's span, with the date over longer spans, the date alone for daily steps."""
    at = datetime.fromtimestamp(moment, UTC)
    if step >= 86400:
        return at.strftime("%m-%d")
    return at.strftime("%H:%M" if span <= 86400 else "%m-%d %H:%M")


def format_value(value: float, unit: str = "") -> str:
    """A number as Grafana's units show it: `percentunit` (0.5 -> 50%), `s` (min and h above
    a minute), anything else with k / M for thousands and millions."""
    if unit == "percentunit":
        return _number(value * 100) + "%"
    if unit == "s":
        for size, name in ((3600, "h"), (60, "min")):
            if abs(value) >= size:
                return f"{_number(value / size)} {name}"
        return f"{_number(value)} s"
    for above, size, name in ((1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if abs(value) >= above:
            return _number(value / size) + name
    return _number(value)


def _number(value: float) -> str:
    """Three significant digits (all of an integer part), no exponent, no trailing zeros."""
    if value == 0 or float(value).is_integer():
        return str(int(value))
    digits = max(0, 2 - math.floor(math.log10(abs(value))))
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def line_chart(
    title: str,
    series: Mapping[str, Sequence[Point]],
    x_domain: tuple[float, float],
    *,
    unit: str = "",
    y_label: str = "",
    width: int = 600,
    height: int = 240,
) -> str:
    """An <svg class="chart"> with one line per series (points (epoch s, value); None values
    are skipped), time and value axes with ticks and labels, and a legend below; "no data"
    when no series has a value. data-series / data-points count what was drawn."""
    drawn = {name: [(x, y) for x, y in points if y is not None] for name, points in series.items()}
    drawn = {name: points for name, points in drawn.items() if points}
    total = sum(len(points) for points in drawn.values())
    legend, legend_height = _legend(list(drawn), width, height)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" '
        f'height="{height + legend_height}" viewBox="0 0 {width} {height + legend_height}" '
        f'aria-label="{escape(title)}" data-series="{len(drawn)}" data-points="{total}">',
        f"<title>{escape(title)}</title>",
    ]
    if not drawn:
        parts.append(
            f'<text class="no-data" x="{width / 2}" y="{height / 2}" text-anchor="middle" '
            f'font-family="sans-serif" font-size="16" fill="#888">no data</text></svg>'
        )
        return "".join(parts)
    values = [y for points in drawn.values() for _, y in points]
    y_ticks = nice_ticks(min(0.0, *values), max(0.0, *values), steps=DURATION_STEPS if unit == "s" else ())
    x_span, y_span = (LEFT, width - RIGHT), (height - BOTTOM, TOP)
    y_domain = (y_ticks[0], y_ticks[-1])
    parts += _axes(x_domain, y_ticks, x_span, y_span, unit, y_label, width, height)
    for index, (name, points) in enumerate(drawn.items()):
        colour = PALETTE[index % len(PALETTE)]
        xy = [(linear(x, x_domain, x_span), linear(y, y_domain, y_span)) for x, y in points]
        path = " ".join(f"{'L' if i else 'M'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(xy))
        parts.append(
            f'<path class="series" data-series="{escape(name)}" data-points="{len(xy)}" d="{path}" '
            f'fill="none" stroke="{colour}" stroke-width="1.5"/>'
        )
        if len(xy) <= MARKERS_UP_TO:
            parts += [f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in xy]
    parts += legend
    parts.append("</svg>")
    return "".join(parts)


def _axes(
    x_domain: tuple[float, float],
    y_ticks: list[float],
    x_span: tuple[float, float],
    y_span: tuple[float, float],
    unit: str,
    y_label: str,
    width: int,
    height: int,
) -> list[str]:
    """Grid lines, tick labels and axis titles."""
    y_domain = (y_ticks[0], y_ticks[-1])
    parts = ['<g class="axis y-axis">']
    for tick in y_ticks:
        y = linear(tick, y_domain, y_span)
        parts.append(
            f'<line x1="{x_span[0]}" x2="{x_span[1]}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e4e4e4"/>'
            f'<text class="tick" x="{x_span[0] - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT}>'
            f"{escape(format_value(tick, unit))}</text>"
        )
    parts.append(
        f'<text class="label" transform="translate(12,{(y_span[0] + y_span[1]) / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" {FONT}>{escape(y_label)}</text></g><g class="axis x-axis">'
    )
    ticks, step = time_ticks(*x_domain)
    for tick in ticks:
        x = linear(tick, x_domain, x_span)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y_span[0]}" y2="{y_span[0] + 4}" stroke="#888"/>'
            f'<text class="tick" x="{x:.1f}" y="{y_span[0] + 16}" text-anchor="middle" {FONT}>'
            f"{escape(time_label(tick, step, x_domain[1] - x_domain[0]))}</text>"
        )
    parts.append(
        f'<line x1="{x_span[0]}" x2="{x_span[1]}" y1="{y_span[0]}" y2="{y_span[0]}" stroke="#888"/>'
        f'<text class="label" x="{(x_span[0] + x_span[1]) / 2}" y="{height - 6}" text-anchor="middle" '
        f"{FONT}>time (UTC)</text></g>"
    )
    return parts


def _legend(names: list[str], width: int, top: int) -> tuple[list[str], int]:
    """Legend entries (colour swatch and name) flowing left to right under the chart, and the
    height they take."""
    parts, x, row = ['<g class="legend">'], LEFT, 0
    for index, name in enumerate(names):
        entry = 16 + 7 * len(name) + 14  # swatch, text at ~7 px a character, gap
        if x + entry > width and x > LEFT:
            x, row = LEFT, row + 1
        y = top + row * LEGEND_ROW + 4
        parts.append(
            f'<rect x="{x}" y="{y}" width="10" height="10" fill="{PALETTE[index % len(PALETTE)]}"/>'
            f'<text x="{x + 14}" y="{y + 9}" {FONT}>{escape(name)}</text>'
        )
        x += entry
    parts.append("</g>")
    return parts, (row + 1) * LEGEND_ROW + 6 if names else 0
