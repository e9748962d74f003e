"""Server-rendered SVG charts: geometry computed here, drawn by `_chart.html` with CSS classes only.

No inline styles (CSP): colours come from the `s1`..`s6` classes in app.css, sizes from the
viewBox. Each bucket carries a `<title>` so hovering shows its values without any script.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

__all__ = ["WIDE", "Chart", "ChartBucket", "ChartLine", "Tick", "line_chart", "nice_max"]

WIDTH = 440
WIDE = 900
"""viewBox width for a chart that spans the whole page, so its text keeps the same size."""
HEIGHT = 190
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 56, 10, 10, 24
MAX_SERIES = 6

Format = Callable[[float], str]


@dataclass(frozen=True, slots=True)
class Tick:
    pos: float
    label: str


@dataclass(frozen=True, slots=True)
class ChartLine:
    label: str
    css: str
    """Series class (`s1`..`s6`), or `bad-line` for an error series."""
    path: str
    area: str | None = None
    dots: tuple[tuple[float, float], ...] = ()
    """Points with no neighbour to join: drawn as dots so a lone bucket still shows."""


@dataclass(frozen=True, slots=True)
class ChartBucket:
    x: float
    width: float
    title: str


@dataclass(frozen=True, slots=True)
class Chart:
    title: str
    summary: str
    """One sentence for screen readers (the SVG's aria-label)."""
    lines: list[ChartLine]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    buckets: list[ChartBucket]
    width: int = WIDTH
    height: int = HEIGHT
    empty: bool = False

    @property
    def left(self) -> int:
        return PAD_LEFT

    @property
    def right(self) -> int:
        return self.width - PAD_RIGHT

    @property
    def bottom(self) -> int:
        return self.height - PAD_BOTTOM


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value` (1 for nothing)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _x_label(moment: datetime, span_s: float) -> str:
    if span_s <= 2 * 86400:
        return moment.strftime("%H:%M")
    return moment.strftime("%a %d") if span_s <= 14 * 86400 else moment.strftime("%b %d")


def _coords(values: Sequence[float | None], top: float, width: int) -> list[tuple[float, float] | None]:
    count = max(1, len(values) - 1)
    span_x, span_y = width - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM
    out: list[tuple[float, float] | None] = []
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
            continue
        out.append((PAD_LEFT + span_x * i / count, PAD_TOP + span_y * (1 - min(v, top) / top)))
    return out


def _path(points: list[tuple[float, float] | None]) -> str:
    parts: list[str] = []
    pen_down = False
    for point in points:
        if point is None:
            pen_down = False
            continue
        parts.append(f"{'L' if pen_down else 'M'}{point[0]:.1f},{point[1]:.1f}")
        pen_down = True
    return " ".join(parts)


def _isolated(points: list[tuple[float, float] | None]) -> tuple[tuple[float, float], ...]:
    out = []
    for i, point in enumerate(points):
        before = points[i - 1] if i > 0 else None
        after = points[i + 1] if i + 1 < len(points) else None
        if point is not None and before is None and after is None:
            out.append(point)
    return tuple(out)


def _area(points: list[tuple[float, float] | None]) -> str | None:
    known = [p for p in points if p is not None]
    if len(known) < 2:
        return None
    base = HEIGHT - PAD_BOTTOM
    return f"M{known[0][0]:.1f},{base} " + _path(list(known)).replace("M", "L", 1) + f" L{known[-1][0]:.1f},{base} Z"


def line_chart(
    title: str,
    times: Sequence[datetime],
    series: Mapping[str, Sequence[float | None]],
    fmt: Format,
    *,
    area: bool = False,
    css: dict[str, str] | None = None,
    width: int = WIDTH,
    zero_is_data: bool = False,
) -> Chart:
    """One line per series (at most six: the caller folds the rest into `other`), shared y axis from 0.

    `zero_is_data`: a measured 0 (an error rate with traffic but no errors) is drawn as a flat line;
    otherwise an all-zero chart says "no data", as zeros there only fill buckets without traffic.
    """
    peak = max((v for values in series.values() for v in values if v is not None), default=0.0)
    top = nice_max(peak)
    span_s = (times[-1] - times[0]).total_seconds() if len(times) > 1 else 0.0
    lines = []
    for index, (label, values) in enumerate(list(series.items())[:MAX_SERIES]):
        points = _coords(values, top, width)
        cls = (css or {}).get(label, f"s{index + 1}")
        lines.append(ChartLine(label, cls, _path(points), _area(points) if area else None, _isolated(points)))
    y_ticks = [Tick(PAD_TOP + (HEIGHT - PAD_TOP - PAD_BOTTOM) * (1 - f), fmt(top * f)) for f in (0, 0.5, 1)]
    step = max(1, len(times) // 5)
    count = max(1, len(times) - 1)
    span_x = width - PAD_LEFT - PAD_RIGHT
    x_ticks = [Tick(PAD_LEFT + span_x * i / count, _x_label(t, span_s)) for i, t in enumerate(times) if i % step == 0]
    slot = span_x / max(1, len(times))
    buckets = []
    for i, moment in enumerate(times):
        shown = [f"{label} {fmt(value)}" for label, v in series.items() if (value := v[i]) is not None]
        x = PAD_LEFT + span_x * i / count - slot / 2
        buckets.append(ChartBucket(x, slot, f"{_x_label(moment, 0)} {moment:%b %d}: {', '.join(shown) or 'no data'}"))
    measured = any(v is not None for values in series.values() for v in values)
    empty = not measured or (peak == 0 and not zero_is_data)
    summary = f"{title}: no data in this window" if empty else f"{title}: peak {fmt(peak)}"
    return Chart(title, summary, lines, y_ticks, x_ticks, buckets, width=width, empty=empty)
