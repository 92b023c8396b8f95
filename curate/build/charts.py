"""Charts as inline SVG, drawn on the server: horizontal bars, lines over bins, and columns.

The build report is one HTML file that must open offline, print, survive e-mail and stay small at any
corpus size, so its charts are static SVG made here from aggregated numbers (a few hundred marks per
chart), not a JavaScript chart library over per-document data. Hovering a mark shows its exact value
(an SVG ``<title>``). Every data mark carries ``class="mark"`` so that a test can check it was drawn.
Output is deterministic: numbers are rounded to fixed precision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape

# Okabe-Ito's colour-blind-safe palette, then darker and lighter companions
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#332288",
           "#882255", "#44AA99", "#999933", "#AA4499", "#6699CC", "#888888")
KEPT = "#4C78A8"
GRID = "#d9d9d9"
FONT = 11


def colour(i: int) -> str:
    """The i-th categorical colour."""
    return PALETTE[i % len(PALETTE)]


def _n(x: float) -> str:
    """A coordinate with two decimals at most."""
    return f"{x:.2f}".rstrip("0").rstrip(".")


def fmt(value: float) -> str:
    """A value for a label: whole numbers with thousands separators from 100 up, three significant
    digits below."""
    if abs(value) >= 100 or (float(value).is_integer() and abs(value) >= 1):
        return f"{round(value):,}"
    return f"{value:.3g}"


def _svg(width: float, height: float, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(width)} {_n(height)}" '
            f'width="{_n(width)}" height="{_n(height)}" role="img" aria-label="{escape(label)}" '
            f'font-size="{FONT}">' + "".join(body) + "</svg>")


def _text(x: float, y: float, s: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{extra}>{escape(s)}</text>'


def _rect(x: float, y: float, w: float, h: float, fill: str, tip: str) -> str:
    return (f'<rect class="mark" x="{_n(x)}" y="{_n(y)}" width="{_n(max(w, 0.5))}" height="{_n(h)}" '
            f'fill="{fill}"><title>{escape(tip)}</title></rect>')


@dataclass
class Segment:
    """One piece of a horizontal bar."""

    value: float
    colour: str
    tip: str


@dataclass
class Bar:
    """A labelled horizontal bar of segments, with a note written to its right."""

    label: str
    segments: list[Segment]
    note: str = ""


def legend(items: Sequence[tuple[str, str]], width: float, y: float) -> tuple[list[str], float]:
    """Swatches with names, wrapped to ``width``; returns the marks and the height used."""
    out, x, row = [], 0.0, 0
    for name, fill in items:
        w = 18 + 6.5 * len(name)
        if x + w > width and x > 0:
            x, row = 0.0, row + 1
        out.append(f'<rect x="{_n(x)}" y="{_n(y + row * 16)}" width="10" height="10" fill="{fill}"/>')
        out.append(_text(x + 14, y + row * 16 + 9, name))
        x += w + 8
    return out, (row + 1) * 16 if items else 0


def hbars(bars: Sequence[Bar], *, title: str, scale_max: float | None = None, unit: str = "",
          legend_items: Sequence[tuple[str, str]] = (), width: int = 760, label_width: int = 150,
          note_width: int = 230) -> str:
    """Stacked horizontal bars on one linear scale (``scale_max`` fixes its end, e.g. 1 for shares)."""
    row_h, gap = 18, 6
    plot_w = width - label_width - note_width
    top = 4
    total = max([sum(s.value for s in b.segments) for b in bars] + [scale_max or 0, 1e-12])
    body = []
    for i, bar in enumerate(bars):
        y = top + i * (row_h + gap)
        body.append(_text(label_width - 6, y + row_h - 5, bar.label, "end"))
        x = label_width
        for seg in bar.segments:
            w = plot_w * seg.value / total
            if seg.value > 0:
                body.append(_rect(x, y, w, row_h, seg.colour, seg.tip))
            x += w
        if bar.note:
            body.append(_text(x + 6, y + row_h - 5, bar.note, extra=' fill="#333"'))
    axis_y = top + len(bars) * (row_h + gap)
    body.append(f'<line x1="{label_width}" y1="{_n(axis_y)}" x2="{label_width + plot_w}" y2="{_n(axis_y)}" '
                f'stroke="{GRID}"/>')
    body.append(_text(label_width, axis_y + 13, "0"))
    body.append(_text(label_width + plot_w, axis_y + 13, fmt(total) + unit, "end"))
    marks, used = legend(legend_items, width, axis_y + 22)
    return _svg(width, axis_y + 22 + used + 4, body + marks, title)


@dataclass
class Series:
    """A line through points ``(x, y)``; ``step`` draws a histogram outline."""

    name: str
    points: list[tuple[float, float]]
    colour: str
    step: bool = False
    dots: bool = False  # points only, no line


@dataclass
class Marker:
    """A vertical line at ``x`` with a label (a threshold, ``seq_len``)."""

    x: float
    label: str
    colour: str = "#C00000"


@dataclass
class Axes:
    """Ranges and labels of a line chart."""

    x: tuple[float, float]
    y: tuple[float, float]
    xlabel: str
    ylabel: str
    xlog: bool = False
    yfmt: str = "{:.0%}"
    ticks: list[float] = field(default_factory=list)


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    if log:
        return [10.0 ** k for k in range(math.ceil(math.log10(lo)), math.floor(math.log10(hi)) + 1)]
    span = (hi - lo) or 1.0
    base = 10 ** math.floor(math.log10(span))
    # the first of 1, 2, 5 x 10^k (from a tenth of the span's decade up) that gives at most eight ticks
    step = next(m * base / 10 for m in (1, 2, 5, 10, 20, 50, 100) if span / (m * base / 10) <= 8)
    start = math.ceil(lo / step) * step
    return [round(start + k * step, 10) for k in range(int((hi - start) / step + 1e-9) + 1)]


def lines(series: Sequence[Series], axes: Axes, *, title: str, markers: Sequence[Marker] = (),
          width: int = 760, height: int = 240) -> str:
    """Lines (or histogram steps) over one x axis, with vertical markers and a legend."""
    left, right, top, bottom = 56, 16, 14, 34
    pw, ph = width - left - right, height - top - bottom
    (x0, x1), (y0, y1) = axes.x, axes.y
    lx0, lx1 = (math.log10(x0), math.log10(x1)) if axes.xlog else (x0, x1)

    def px(x: float) -> float:
        v = math.log10(max(x, x0)) if axes.xlog else x
        return left + pw * (v - lx0) / ((lx1 - lx0) or 1)

    def py(y: float) -> float:
        return top + ph * (1 - (y - y0) / ((y1 - y0) or 1))

    body = []
    for t in axes.ticks or _ticks(x0, x1, axes.xlog):
        body.append(f'<line x1="{_n(px(t))}" y1="{top}" x2="{_n(px(t))}" y2="{top + ph}" stroke="{GRID}"/>')
        body.append(_text(px(t), top + ph + 14, fmt(t), "middle"))
    for t in _ticks(y0, y1, False):
        body.append(f'<line x1="{left}" y1="{_n(py(t))}" x2="{left + pw}" y2="{_n(py(t))}" stroke="{GRID}"/>')
        body.append(_text(left - 4, py(t) + 4, axes.yfmt.format(t), "end"))
    body.append(_text(left + pw / 2, height - 4, axes.xlabel, "middle"))
    body.append(_text(12, top + ph / 2, axes.ylabel, "middle", f' transform="rotate(-90 12 {_n(top + ph / 2)})"'))
    for s in series:
        pts = s.points
        if s.step and pts:
            path = [f"M{_n(px(pts[0][0]))},{_n(py(y0))}"]
            for x, y in pts:
                path.append(f"V{_n(py(y))}H{_n(px(x))}")
            path.append(f"V{_n(py(y0))}")
        else:
            path = [("M" if i == 0 else "L") + f"{_n(px(x))},{_n(py(y))}" for i, (x, y) in enumerate(pts)]
        if not s.dots:
            body.append(f'<path class="mark" d="{"".join(path)}" fill="none" stroke="{s.colour}" '
                        f'stroke-width="1.8"><title>{escape(s.name)}</title></path>')
        else:
            body += [f'<circle class="mark" cx="{_n(px(x))}" cy="{_n(py(y))}" r="3.5" fill="{s.colour}">'
                     f"<title>{escape(f'{s.name}: {fmt(x)} -> {fmt(y)}')}</title></circle>" for x, y in pts]
    for i, m in enumerate(markers):
        x = px(m.x)
        body.append(f'<line x1="{_n(x)}" y1="{top}" x2="{_n(x)}" y2="{top + ph}" stroke="{m.colour}" '
                    f'stroke-dasharray="4 3" stroke-width="1.5"/>')
        right = x > left + pw * 0.65  # labels near the right edge run leftwards
        body.append(_text(x - 3 if right else x + 3, top + 10 + 12 * (i % 4), m.label, "end" if right else "start",
                          f' fill="{m.colour}"'))
    marks, used = legend([(s.name, s.colour) for s in series if s.name], width - left, height + 2)
    return _svg(width, height + used + 4, [*body, f'<g transform="translate({left},0)">', *marks, "</g>"], title)


def columns(labels: Sequence[str], values: Sequence[float], *, title: str, ylabel: str, colour_: str = KEPT,
            width: int = 520, height: int = 200) -> str:
    """Vertical bars over categorical labels (e.g. cluster sizes)."""
    left, top, bottom = 56, 14, 34
    pw, ph = width - left - 10, height - top - bottom
    vmax = max([*values, 1])
    slot = pw / max(len(values), 1)
    body = []
    for t in _ticks(0, vmax, False):
        y = top + ph * (1 - t / vmax)
        body.append(f'<line x1="{left}" y1="{_n(y)}" x2="{left + pw}" y2="{_n(y)}" stroke="{GRID}"/>')
        body.append(_text(left - 4, y + 4, fmt(t), "end"))
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        h = ph * v / vmax
        x = left + i * slot + slot * 0.15
        if v > 0:
            body.append(_rect(x, top + ph - h, slot * 0.7, h, colour_, f"{label}: {fmt(v)}"))
        body.append(_text(x + slot * 0.35, top + ph + 14, label, "middle"))
        body.append(_text(x + slot * 0.35, top + ph - h - 3, fmt(v), "middle"))
    body.append(_text(12, top + ph / 2, ylabel, "middle", f' transform="rotate(-90 12 {_n(top + ph / 2)})"'))
    return _svg(width, height, body, title)
