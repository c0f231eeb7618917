"""Charts as inline SVG text: axes with round ticks, lines, point clouds, bars and marks.

Why not a plotting library: the HTML report must open offline as one file. plotly's
offline bundle alone is about 3.5 MB per page and a dependency; these charts are plain SVG
elements (about 12 bytes a point), need no script to draw, and render in any browser or
file viewer. Every chart is an ``<svg class="graph">`` whose data sit in ``<g class="data">``
(what the HTML report's page check counts).

Pure: data in, text out; deterministic (coordinates rounded to 0.1 px).
"""
from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Series", "chart", "nice_ticks", "thin", "PALETTE"]

PALETTE = {"blue": "#1f77b4", "orange": "#ff7f0e", "green": "#2ca02c", "red": "#d62728",
           "purple": "#9467bd", "brown": "#8c564b", "grey": "#7f7f7f", "teal": "#17becf",
           "olive": "#bcbd22", "pink": "#e377c2"}
MARGIN = (48, 12, 36, 64)   # top, right, bottom, left (px)


@dataclass(frozen=True)
class Series:
    """One thing drawn: ``kind`` line | step | points | bars | marks (a symbol per point)
    | spans (x to x2 at y, for waterfalls and SACK blocks)."""

    name: str
    x: Sequence[float]
    y: Sequence[float]
    kind: str = "line"
    color: str = "blue"
    total: int | None = None          # points before thinning (for the legend)
    x2: Sequence[float] = field(default_factory=tuple)   # spans: where each one ends
    labels: Sequence[str] = field(default_factory=tuple)  # spans/marks: text beside each
    symbol: str = "x"                 # marks: x | tri | dot | diamond


def thin(x: Sequence[float], y: Sequence[float], limit: int) -> tuple[list, list]:
    """At most about ``limit`` points for drawing: each of limit/2 runs of consecutive points
    keeps its lowest and its highest, so spikes and dips stay visible. The numbers in the
    report are never computed from thinned series."""
    n = len(x)
    if n <= limit or limit < 4:
        return list(x), list(y)
    runs = limit // 2
    bounds = [round(i * n / runs) for i in range(runs + 1)]
    xs, ys = [], []
    for a, b in zip(bounds, bounds[1:]):
        if a >= b:
            continue
        seg = range(a, b)
        lo = min(seg, key=lambda i: y[i])
        hi = max(seg, key=lambda i: y[i])
        for i in sorted({lo, hi}):
            xs.append(x[i])
            ys.append(y[i])
    return xs, ys


def nice_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round tick values (1, 2, 5 times a power of ten) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(round(v, 12))
        v += step
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:g}G"
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e4:
        return f"{v / 1e3:g}k"
    return f"{v:.6g}"


def _extent(series: Sequence[Series], axis: str) -> tuple[float, float]:
    values = []
    for s in series:
        values += [float(v) for v in getattr(s, axis) if v is not None and math.isfinite(v)]
        if axis == "x":
            values += [float(v) for v in s.x2]
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    if hi == lo:
        hi = lo + (abs(lo) or 1.0)
    return lo, hi


def _esc(s) -> str:
    return html.escape(str(s), quote=True)


def chart(series: Sequence[Series], *, chart_id: str, title: str, x_label: str,
          y_label: str, width: int = 900, height: int = 240,
          x_range: tuple[float, float] | None = None,
          y_range: tuple[float, float] | None = None,
          y_zero: bool = True, y_categories: Sequence[str] = ()) -> str:
    """One chart as an ``<svg>`` element. ``y_categories`` names rows 0, 1, ... (a
    waterfall) instead of a numeric y axis."""
    top, right, bottom, left = MARGIN
    if y_categories:
        left = 8 + 7 * max(len(c) for c in y_categories)
    pw, ph = width - left - right, height - top - bottom
    x0, x1 = x_range or _extent(series, "x")
    if y_categories:
        y0, y1 = -0.5, len(y_categories) - 0.5
    else:
        y0, y1 = y_range or _extent(series, "y")
        if y_zero and y_range is None:
            y0 = min(0.0, y0)
        y1 += (y1 - y0) * 0.05
    sx = pw / (x1 - x0) if x1 > x0 else 0.0
    sy = ph / (y1 - y0) if y1 > y0 else 0.0

    def px(v: float) -> float:
        return round(left + (float(v) - x0) * sx, 1)

    def py(v: float) -> float:
        if y_categories:
            return round(top + (float(v) - y0) * sy, 1)
        return round(top + ph - (float(v) - y0) * sy, 1)

    n_points = sum(len(s.x) for s in series)
    out = [f'<svg class="graph" id="{_esc(chart_id)}" xmlns="http://www.w3.org/2000/svg" '
           f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
           f'data-points="{n_points}" role="img" aria-label="{_esc(title)}">',
           f'<text x="{left}" y="16" class="t">{_esc(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="plot"/>']
    for t in nice_ticks(x0, x1, max(2, pw // 90)):
        X = px(t)
        out.append(f'<line x1="{X}" y1="{top}" x2="{X}" y2="{top + ph}" class="grid"/>'
                   f'<text x="{X}" y="{top + ph + 14}" class="xt">{_fmt(t)}</text>')
    if y_categories:
        for i, name in enumerate(y_categories):
            out.append(f'<text x="{left - 6}" y="{py(i) + 4}" class="yt">{_esc(name)}</text>')
    else:
        for t in nice_ticks(y0, y1, max(2, ph // 40)):
            Y = py(t)
            out.append(f'<line x1="{left}" y1="{Y}" x2="{left + pw}" y2="{Y}" class="grid"/>'
                       f'<text x="{left - 6}" y="{Y + 4}" class="yt">{_fmt(t)}</text>')
        out.append(f'<text x="12" y="{top + ph / 2}" class="yl" transform="rotate(-90 12 '
                   f'{top + ph / 2})">{_esc(y_label)}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 2}" class="xl">{_esc(x_label)}</text>')
    out.append(f'<svg x="{left}" y="{top}" width="{pw}" height="{ph}" '
               f'viewBox="{left} {top} {pw} {ph}" overflow="hidden"><g class="data">')
    for s in series:
        out.append(_draw(s, px, py, sy, y_categories))
    out.append("</g></svg>")
    out.append(_legend(series, left, width - right))
    out.append("</svg>")
    return "".join(out)


def _draw(s: Series, px, py, sy, categories) -> str:
    color = PALETTE.get(s.color, s.color)
    title = f"<title>{_esc(s.name)}</title>"
    pts = [(px(a), py(b)) for a, b in zip(s.x, s.y)]
    if not pts:
        return ""
    if s.kind in ("line", "step"):
        if s.kind == "step":
            stepped = [pts[0]]
            for p in pts[1:]:
                stepped += [(p[0], stepped[-1][1]), p]
            pts = stepped
        coords = " ".join(f"{a},{b}" for a, b in pts)
        return (f'<polyline class="s" points="{coords}" fill="none" stroke="{color}" '
                f'stroke-width="1.5">{title}</polyline>')
    if s.kind == "points":
        d = "".join(f"M{a} {b}h0" for a, b in pts)
        return (f'<path class="s" d="{d}" stroke="{color}" stroke-width="4" '
                f'stroke-linecap="round">{title}</path>')
    if s.kind == "bars":
        base = py(0)
        w = max(1.0, round(min((b[0] - a[0] for a, b in zip(pts, pts[1:])), default=12) * 0.8, 1))
        rects = "".join(f'<rect class="bar" x="{round(a - w / 2, 1)}" y="{min(b, base)}" '
                        f'width="{w}" height="{max(round(abs(base - b), 1), 0.5)}"/>'
                        for a, b in pts)
        return f'<g fill="{color}">{title}{rects}</g>'
    if s.kind == "spans":
        h = max(6.0, min(22.0, abs(sy) * 0.6)) if categories else 3.0
        parts = []
        for i, (a, b) in enumerate(pts):
            end = px(s.x2[i])
            parts.append(f'<rect class="bar" x="{a}" y="{round(b - h / 2, 1)}" '
                         f'width="{max(round(end - a, 1), 1.0)}" height="{h}"/>')
            if i < len(s.labels) and s.labels[i]:
                parts.append(f'<text x="{round(max(end, a + 1) + 4, 1)}" y="{round(b + 4, 1)}" '
                             f'class="lab">{_esc(s.labels[i])}</text>')
        return f'<g fill="{color}">{title}{"".join(parts)}</g>'
    # marks: a symbol per point, with its label as a tooltip
    shapes = []
    for i, (a, b) in enumerate(pts):
        tip = f"<title>{_esc(s.labels[i])}</title>" if i < len(s.labels) else ""
        if s.symbol == "x":
            d = f"M{a - 4} {b - 4}l8 8m0 -8l-8 8"
            shapes.append(f'<path class="m" d="{d}" stroke="{color}" stroke-width="2">{tip}'
                          "</path>")
        elif s.symbol == "tri":
            d = f"M{a} {b - 5}l5 9h-10z"
            shapes.append(f'<path class="m" d="{d}" fill="{color}">{tip}</path>')
        elif s.symbol == "diamond":
            d = f"M{a} {b - 5}l5 5l-5 5l-5 -5z"
            shapes.append(f'<path class="m" d="{d}" fill="{color}">{tip}</path>')
        else:
            shapes.append(f'<circle class="m" cx="{a}" cy="{b}" r="3.5" fill="{color}">{tip}'
                          "</circle>")
    return f'<g>{title}{"".join(shapes)}</g>'


def _legend(series: Sequence[Series], left: int, right: int) -> str:
    items, x = [], left
    for s in series:
        if not s.name:
            continue
        label = s.name
        if s.total is not None and s.total > len(s.x):
            label += f" ({len(s.x):,} of {s.total:,} drawn)"
        color = PALETTE.get(s.color, s.color)
        items.append(f'<rect x="{x}" y="26" width="10" height="10" fill="{color}"/>'
                     f'<text x="{x + 14}" y="35" class="lg">{_esc(label)}</text>')
        x += 24 + 6 * len(label)
        if x > right:
            break
    return "".join(items)
