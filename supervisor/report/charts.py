"""Inline SVG charts for the HTML report, drawn in Python so the page needs no JavaScript.

Pure functions, data in and markup out: ``downsample`` (keeps the shape of long series),
``line_chart`` (a series over session time) and ``timeline_chart`` (phase bars and event
markers on the session-time axis). Every string taken from the data is escaped here;
hover details are SVG ``<title>`` elements, which browsers show as tooltips.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

MAX_POINTS = 600
PHASE_COLORS = ("#4c78a8", "#59a14f", "#f28e2b", "#b07aa1", "#76b7b2", "#edc948")
Point = tuple[float, float]


def finite(value: Any) -> float | None:
    """``value`` as a float when it is a real, finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def fmt_duration(seconds: Any) -> str:
    """Session or wall seconds for people: ``42s``, ``12m 05s``, ``6h 00m``; ``—`` if unknown."""
    value = finite(seconds)
    if value is None:
        return "—"
    sign, value = ("-", -value) if value < 0 else ("", value)
    if value < 10:
        return f"{sign}{value:.1f}s".replace(".0s", "s")
    total = int(round(value))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m {secs:02d}s"
    return f"{sign}{secs}s"


def fmt_count(value: float) -> str:
    """Compact axis number: 950, 12.5k, 3.2M."""
    size = abs(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}" if value != int(value) else f"{int(value)}"


def fmt_percent(value: float) -> str:
    return f"{value * 100:.0f}%"


def series_points(ts: Any, ys: Any) -> list[Point]:
    """Pair two parallel lists, drop points that are not finite numbers, sort by time."""
    if not isinstance(ts, Sequence) or not isinstance(ys, Sequence):
        return []
    points = []
    for t, y in zip(ts, ys, strict=False):
        ft, fy = finite(t), finite(y)
        if ft is not None and fy is not None:
            points.append((ft, fy))
    points.sort(key=lambda p: p[0])
    return points


def downsample(points: Sequence[Point], max_points: int = MAX_POINTS) -> list[Point]:
    """At most ``max_points`` points, keeping the first, the last and each bucket's min and max.

    Every point falls in some bucket, so the global extremes always survive and spikes stay
    visible; the order of the kept points is the original order.
    """
    max_points = max(4, max_points)
    n = len(points)
    if n <= max_points:
        return list(points)
    inner = points[1:-1]
    buckets = (max_points - 2) // 2
    size = len(inner) / buckets
    kept: list[Point] = [points[0]]
    for b in range(buckets):
        chunk = inner[int(b * size) : int((b + 1) * size)]
        if not chunk:
            continue
        low = min(range(len(chunk)), key=lambda i: chunk[i][1])
        high = max(range(len(chunk)), key=lambda i: chunk[i][1])
        kept.extend(chunk[i] for i in sorted({low, high}))
    kept.append(points[-1])
    return kept


def nice_step(span: float, count: int) -> float:
    """A 1/2/5 x 10^k step that cuts ``span`` into about ``count`` parts."""
    raw = max(span, 1e-12) / max(count, 1)
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * magnitude:
            return mult * magnitude
    return 10 * magnitude


def y_scale(top_value: float, percent: bool = False) -> tuple[float, float]:
    """(grid step, axis maximum) for values from 0 to ``top_value``: 0-100% for fractions."""
    if top_value <= 0 or (percent and top_value <= 1.0):
        return (0.25, 1.0) if percent else (1.0, 1.0)
    step = nice_step(top_value, 5)
    return step, step * math.ceil(top_value / step)


_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
               43200, 86400)


def time_ticks(t_max: float, count: int = 7) -> list[float]:
    """Round session-time ticks (10 min, 30 min, 1 h ...) from 0 to ``t_max``."""
    step = next((s for s in _TIME_STEPS if t_max / s <= count), nice_step(t_max, count))
    return [i * step for i in range(int(t_max / step) + 1)]


def fmt_tick(seconds: float) -> str:
    """Axis label for a session time: ``0``, ``45s``, ``30m``, ``1h``, ``1h30``."""
    total = int(round(seconds))
    if total == 0:
        return "0"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h" + (f"{minutes:02d}" if minutes else "")
    if minutes:
        return f"{minutes}m" + (f"{secs:02d}" if secs else "")
    return f"{secs}s"


@dataclass(frozen=True)
class Frame:
    """The plot area of one chart and its mapping from data to pixels."""

    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float
    t_max: float
    y_max: float = 1.0

    def x(self, t: float) -> float:
        inner = self.width - self.left - self.right
        return self.left + inner * min(max(t / self.t_max, 0.0), 1.0)

    def y(self, value: float) -> float:
        inner = self.height - self.top - self.bottom
        return self.top + inner * (1 - min(max(value / self.y_max, 0.0), 1.0))

    def time_axis(self) -> list[str]:
        """Vertical grid lines and labels for the session-time axis."""
        base = self.height - self.bottom
        parts = []
        for tick in time_ticks(self.t_max):
            x = self.x(tick)
            parts.append(f'<line class="grid" x1="{x:.1f}" y1="{self.top}" x2="{x:.1f}" '
                         f'y2="{base}"/>')
            parts.append(f'<text class="tick" x="{x:.1f}" y="{base + 14}" '
                         f'text-anchor="middle">{fmt_tick(tick)}</text>')
        return parts


def _open_svg(frame: Frame, label: str, css: str) -> str:
    return (f'<svg class="{css}" viewBox="0 0 {frame.width:g} {frame.height:g}" role="img" '
            f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(label)}">'
            f"<title>{escape(label)}</title>")


def line_chart(title: str, ts: Any, ys: Any, *, unit: str = "", percent: bool = False,
               t_max: float | None = None, color: str = "#4c78a8",
               max_points: int = MAX_POINTS) -> str:
    """An SVG line (and shaded area) of ``ys`` over session time, or a "no data" box."""
    points = downsample(series_points(ts, ys), max_points)
    if not points:
        return f'<div class="nodata">no data for {escape(title.lower())}</div>'
    top_value = max(p[1] for p in points)
    if percent and top_value > 1.0:  # given as 0..100 rather than 0..1
        points = [(t, v / 100) for t, v in points]
        top_value /= 100
    step, y_max = y_scale(top_value, percent)
    span = t_max if t_max and t_max > 0 else 0.0
    frame = Frame(360, 170, 40, 10, 8, 20, max(span, points[-1][0], 1.0), y_max)
    label_of: Callable[[float], str] = fmt_percent if percent else fmt_count
    parts = [_open_svg(frame, title, "chart")]
    for i in range(min(int(round(y_max / step)), 10) + 1):
        y = frame.y(i * step)
        parts.append(f'<line class="grid" x1="{frame.left}" y1="{y:.1f}" '
                     f'x2="{frame.width - frame.right}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{frame.left - 6}" y="{y + 4:.1f}" '
                     f'text-anchor="end">{label_of(i * step)}</text>')
    parts.extend(frame.time_axis())
    coords = [(frame.x(t), frame.y(v)) for t, v in points]
    line = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    base = frame.height - frame.bottom
    area = f"{line} L{coords[-1][0]:.1f},{base} L{coords[0][0]:.1f},{base} Z"
    parts.append(f'<path class="area" d="{area}" fill="{color}"/>')
    parts.append(f'<path class="line" d="{line}" stroke="{color}"/>')
    parts.extend(_hover_dots(points, coords, label_of, unit, len(points) <= 3))
    parts.append("</svg>")
    return "".join(parts)


def _hover_dots(points: Sequence[Point], coords: Sequence[tuple[float, float]],
                label_of: Callable[[float], str], unit: str, visible: bool) -> Iterable[str]:
    """Up to 60 points with a tooltip each (invisible unless the series is tiny)."""
    stride = max(1, math.ceil(len(points) / 60))
    chosen = sorted(set(range(0, len(points), stride)) | {len(points) - 1})
    css = "dot" if visible else "hover"
    for i in chosen:
        (t, v), (x, y) = points[i], coords[i]
        tip = escape(f"{fmt_duration(t)}: {label_of(v)} {unit}".strip())
        yield f'<circle class="{css}" cx="{x:.1f}" cy="{y:.1f}" r="4"><title>{tip}</title></circle>'


@dataclass(frozen=True)
class Bar:
    """A phase bar: ``start``..``end`` session seconds."""

    label: str
    start: float
    end: float
    tip: str


@dataclass(frozen=True)
class Marker:
    """An event on the timeline; ``css`` picks its lane, shape and colour (a fixed set)."""

    t: float
    css: str
    tip: str


LANES = (("checkpoint", "Checkpoints"), ("failure", "Failures"), ("recovery", "Recoveries"),
         ("event", "Control"))


def _marker_shape(css: str, x: float, y: float) -> str:
    if css == "checkpoint":
        return f'<polygon points="{x:.1f},{y - 6} {x + 5:.1f},{y} {x:.1f},{y + 6} {x - 5:.1f},{y}"/>'
    if css == "recovery":
        return f'<polygon points="{x:.1f},{y - 6} {x + 6:.1f},{y + 5} {x - 6:.1f},{y + 5}"/>'
    if css == "event":
        return f'<rect x="{x - 4:.1f}" y="{y - 4}" width="8" height="8"/>'
    return f'<circle cx="{x:.1f}" cy="{y}" r="5"/>'


def timeline_chart(bars: Sequence[Bar], markers: Sequence[Marker], t_max: float,
                   ended_at: float | None = None) -> str:
    """Phase bars on top, one lane per marker kind below, on a shared session-time axis."""
    lane_h = 26
    frame = Frame(1000, 8 + lane_h * (len(LANES) + 1) + 26, 96, 12, 8, 22, max(t_max, 1.0))
    parts = [_open_svg(frame, "Session timeline", "timeline")]
    parts.extend(frame.time_axis())
    lane_y = {name: frame.top + lane_h * (i + 1) + 13 for i, (name, _) in enumerate(LANES)}
    parts.append(f'<text class="lane" x="4" y="{frame.top + 17}">Phases</text>')
    for name, title in LANES:
        parts.append(f'<text class="lane" x="4" y="{lane_y[name] + 4}">{title}</text>')
    if not bars:
        parts.append(f'<text class="tick" x="{frame.left + 6}" y="{frame.top + 17}">no phase '
                     "data</text>")
    for i, bar in enumerate(bars):
        x0, x1 = frame.x(bar.start), frame.x(max(bar.end, bar.start))
        color = PHASE_COLORS[i % len(PHASE_COLORS)]
        parts.append(f'<g class="phase"><title>{escape(bar.tip)}</title>'
                     f'<rect x="{x0:.1f}" y="{frame.top + 2}" width="{max(x1 - x0, 2):.1f}" '
                     f'height="{lane_h - 4}" rx="3" fill="{color}"/>')
        if x1 - x0 > 7 * len(bar.label) + 8:
            parts.append(f'<text class="barlabel" x="{x0 + 6:.1f}" y="{frame.top + 17}">'
                         f"{escape(bar.label)}</text>")
        parts.append("</g>")
    for marker in sorted(markers, key=lambda m: m.t):
        css = marker.css if marker.css in lane_y else "event"
        shape = _marker_shape(css, frame.x(marker.t), lane_y[css])
        parts.append(f'<g class="mk {css}"><title>{escape(marker.tip)}</title>{shape}</g>')
    if ended_at is not None and 0 < ended_at < frame.t_max * 0.995:
        x = frame.x(ended_at)
        parts.append(f'<line class="ended" x1="{x:.1f}" y1="{frame.top}" x2="{x:.1f}" '
                     f'y2="{frame.height - frame.bottom}"><title>session ended at '
                     f"{fmt_duration(ended_at)}</title></line>")
    parts.append("</svg>")
    return "".join(parts)


def marker_tip(t: float, head: str, fields: Mapping[str, Any]) -> str:
    """Tooltip text: time, a headline, then ``key: value`` for each field that has a value."""
    lines = [f"{fmt_duration(t)} · {head}"]
    lines += [f"{key}: {value}" for key, value in fields.items() if value not in (None, "")]
    return "\n".join(lines)
