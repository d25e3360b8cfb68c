"""Inline SVG charts for the jobs page: pure functions, every text escaped.

A chart is a series of points (one per run, oldest first): a line through the values,
a dot per run coloured by its status, and a ring with a "!" over points flagged by a
drift rule. Hovering a point shows its ``<title>``. No script, no external resource.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 640, 180
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 16, 24, 28
COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "timed_out": "#ef6c00",
           "cancelled": "#757575", "interrupted": "#6a1b9a", "running": "#1565c0",
           "queued": "#90a4ae"}
FLAG = "#d50000"


@dataclass(frozen=True)
class Point:
    label: str  # shown on hover, e.g. "run 42 (succeeded)"
    value: float | None  # None: nothing to plot (a run without this metric)
    status: str = "succeeded"
    flagged: bool = False
    note: str = ""  # e.g. the drift message


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000 or abs(value) < 0.01:
        return f"{value:.3g}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _scale(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if low == high:
        spread = abs(low) * 0.1 or 1.0
        return low - spread, high + spread
    margin = (high - low) * 0.08
    return low - margin, high + margin


def line_chart(title: str, points: Sequence[Point], *, unit: str = "",
               width: int = WIDTH, height: int = HEIGHT) -> str:
    """An ``<svg>`` element: ``title`` above, one point per entry of ``points``."""
    values = [p.value for p in points if p.value is not None]
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" '
            f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'aria-label="{escape(title)}">'
            f'<title>{escape(title)}</title>'
            f'<text x="{PAD_LEFT}" y="16" font-size="13" font-weight="bold">'
            f'{escape(title)}</text>')
    if not values:
        return (head + f'<text x="{PAD_LEFT}" y="{height // 2}" font-size="12" '
                'fill="#757575">no data yet</text></svg>')
    low, high = _scale(values)
    plot_w = width - PAD_LEFT - PAD_RIGHT
    plot_h = height - PAD_TOP - PAD_BOTTOM
    step = plot_w / max(len(points) - 1, 1)

    def x(i: int) -> float:
        return PAD_LEFT + (i * step if len(points) > 1 else plot_w / 2)

    def y(v: float) -> float:
        return PAD_TOP + plot_h - (v - low) / (high - low) * plot_h

    parts = [head,
             f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{width - PAD_RIGHT}" '
             f'y2="{PAD_TOP + plot_h}" stroke="#9e9e9e"/>',
             f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{PAD_TOP + plot_h}" '
             'stroke="#9e9e9e"/>']
    suffix = f" {unit}" if unit else ""
    for value in (low, high):
        parts.append(f'<text x="{PAD_LEFT - 4}" y="{y(value) + 4:.1f}" font-size="10" '
                     f'text-anchor="end">{escape(_number(value) + suffix)}</text>')
    line = " ".join(f"{x(i):.1f},{y(p.value):.1f}" for i, p in enumerate(points)
                    if p.value is not None)
    parts.append(f'<polyline fill="none" stroke="#546e7a" stroke-width="1.5" '
                 f'points="{line}"/>')
    for i, p in enumerate(points):
        if p.value is None:
            continue
        cx, cy = x(i), y(p.value)
        colour = COLOURS.get(p.status, "#546e7a")
        tip = f"{p.label}: {_number(p.value)}{suffix}" + (f" — {p.note}" if p.note else "")
        mark = f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{colour}"/>'
        if p.flagged:
            mark = (f'<circle class="drift" cx="{cx:.1f}" cy="{cy:.1f}" r="8" fill="none" '
                    f'stroke="{FLAG}" stroke-width="2"/>' + mark +
                    f'<text x="{cx:.1f}" y="{cy - 11:.1f}" font-size="12" font-weight="bold" '
                    f'text-anchor="middle" fill="{FLAG}">!</text>')
        parts.append(f'<g class="point{" flagged" if p.flagged else ""}">'
                     f'<title>{escape(tip)}</title>{mark}</g>')
    first, last = points[0].label, points[-1].label
    parts.append(f'<text x="{PAD_LEFT}" y="{height - 8}" font-size="10">{escape(first)}</text>')
    if len(points) > 1:
        parts.append(f'<text x="{width - PAD_RIGHT}" y="{height - 8}" font-size="10" '
                     f'text-anchor="end">{escape(last)}</text>')
    return "".join(parts) + "</svg>"


def sparkline(values: Sequence[float | None], statuses: Sequence[str],
              width: int = 120, height: int = 24) -> str:
    """A tiny duration trend for the jobs list (no text but a title)."""
    points = [(i, v, s) for i, (v, s) in enumerate(zip(values, statuses, strict=True))
              if v is not None]
    if not points:
        return ""
    low, high = _scale([v for _, v, _ in points])
    step = (width - 8) / max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return 4 + i * step, height - 4 - (v - low) / (high - low) * (height - 8)

    line = " ".join("{:.1f},{:.1f}".format(*xy(i, v)) for i, v, _ in points)
    dots = "".join('<circle cx="{:.1f}" cy="{:.1f}" r="2" fill="{}"/>'.format(
        *xy(i, v), COLOURS.get(s, "#546e7a")) for i, v, s in points)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="spark" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}"><title>run durations'
            f'</title><polyline fill="none" stroke="#546e7a" points="{line}"/>{dots}</svg>')
