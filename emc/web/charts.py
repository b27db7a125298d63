"""Small server-side SVG charts (no JavaScript library, no CDN): series over time with month ticks.

Why drawn by hand and not with ReportLab, which draws the PDFs' charts (:func:`emc.reports.mv_report.monthly_chart`):
ReportLab's SVG renderer (``reportlab.graphics.renderSVG``, 5.1) was tried on these charts and writes a standalone
SVG *file*, not an element a page can hold: an XML declaration and DOCTYPE to strip, ``<title>...</title>`` and
``<desc>...</desc>`` placeholders instead of the chart's accessible name, a ``<clipPath id="clip">`` and a
``<g id="group">`` with fixed ids (two charts on one page — the M&V and carbon pages have two — duplicate the ids
and both clip by the first), inline ``style`` on every element (Helvetica and black text, which overrides the
page's ``svg.chart .tick/.legend/.grid/.axis`` CSS; lines cannot carry a class at all), and a y-flip transform
with a counter-transform on every text. The PDF chart is a category-axis line chart (one label per month of a
contract year); the pages need a date axis with gaps where data is missing, bars, and dashed series. Sharing one
builder would mean post-processing ReportLab's XML into what this module writes directly, and changing the PDFs'
charts; so the pages keep this ~150-line writer, and the PDFs keep ReportLab.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from html import escape
from typing import TypeGuard

from dateutil.relativedelta import relativedelta

PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 16, 28, 36
MAX_MONTH_TICKS = 12



@dataclass
class Series:
    """One series of a chart: a legend label, a colour and (day, value) points; None is a gap."""

    label: str
    color: str
    points: list[tuple[date | datetime, float | None]]
    dashed: bool = False
    bars: bool = False


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _num(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:g}M"
    if value >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


def _day(x: date | datetime) -> float:
    """A point's position on the time axis, in days."""
    return x.toordinal() if isinstance(x, date) and not isinstance(x, datetime) else x.timestamp() / 86400


def _finite(y: float | None) -> TypeGuard[float]:
    """A value to draw (None and NaN are gaps)."""
    return y is not None and math.isfinite(y)


@dataclass(frozen=True)
class _Plot:
    """The plot area and the scales from data to SVG coordinates."""

    width: int
    height: int
    x0: float
    x1: float
    ymin: float
    ymax: float

    @property
    def plot_w(self) -> int:
        return self.width - PAD_LEFT - PAD_RIGHT

    @property
    def plot_h(self) -> int:
        return self.height - PAD_TOP - PAD_BOTTOM

    @property
    def bottom(self) -> int:
        return PAD_TOP + self.plot_h

    def px(self, x: date | datetime) -> float:
        return PAD_LEFT + (_day(x) - self.x0) / ((self.x1 - self.x0) or 1) * self.plot_w

    def py(self, y: float) -> float:
        return PAD_TOP + self.plot_h - (y - self.ymin) / (self.ymax - self.ymin) * self.plot_h


def _y_grid(plot: _Plot) -> list[str]:
    """Five gridlines with their values, from the bottom of the scale to its top."""
    out = []
    for i in range(5):
        value = plot.ymin + (plot.ymax - plot.ymin) * i / 4
        y = plot.py(value)
        out.append(f'<line x1="{PAD_LEFT}" x2="{plot.width - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">{_num(value)}</text>')
    return out


def _month_ticks(plot: _Plot) -> list[str]:
    """A tick on the first of each month in the span (every n-th month when there are more than a year's)."""
    start = date.fromordinal(int(plot.x0)).replace(day=1)
    firsts = []
    d = start
    while d.toordinal() <= plot.x1:
        firsts.append(d)
        d += relativedelta(months=1)
    step = max(1, len(firsts) // MAX_MONTH_TICKS)
    out = []
    for k, d in enumerate(firsts):
        if d.toordinal() >= plot.x0 and k % step == 0:
            x = plot.px(d)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{plot.bottom}" y2="{plot.bottom + 4}" class="axis"/>')
            out.append(f'<text x="{x:.1f}" y="{plot.bottom + 16}" text-anchor="middle" class="tick">'
                       f'{d.year % 100:02d}-{d.month:02d}</text>')
    return out


def _legend_width(label: str) -> int:
    """Room a legend entry takes: its swatch, its text (CJK characters are wider) and a gap."""
    return 28 + 8 * len(label) + 24 * sum(1 for ch in label if ord(ch) > 0x2E80) // 2


def _bars(plot: _Plot, series: Series) -> list[str]:
    bw = max(2.0, plot.plot_w / max(1, len(series.points)) * 0.6)
    out = []
    for x, y in series.points:
        if _finite(y):
            top, base = plot.py(max(y, 0)), plot.py(min(y, 0))
            out.append(f'<rect x="{plot.px(x) - bw / 2:.1f}" y="{top:.1f}" width="{bw:.1f}" '
                       f'height="{base - top:.1f}" fill="{series.color}" opacity="0.75"/>')
    return out


def _polylines(plot: _Plot, series: Series) -> list[str]:
    """The series as polylines, broken where a value is missing."""
    segments: list[list[str]] = [[]]
    for x, y in series.points:
        if _finite(y):
            segments[-1].append(f"{plot.px(x):.1f},{plot.py(y):.1f}")
        else:
            segments.append([])
    dash = ' stroke-dasharray="5 3"' if series.dashed else ""
    return [f'<polyline fill="none" stroke="{series.color}" stroke-width="1.5"{dash} points="{" ".join(seg)}"/>'
            for seg in segments if seg]


def time_chart(series: list[Series], *, width: int = 900, height: int = 260, unit: str = "", title: str = "") -> str:
    """An accessible SVG: a <title>, a legend, y gridlines with values, x ticks on the first of each month."""
    days = [_day(x) for one in series for x, _ in one.points]
    ys = [y for one in series for _, y in one.points if _finite(y)]
    if not days or not ys:
        return f'<svg class="chart" role="img" viewBox="0 0 {width} 60"><title>{escape(title)}</title>' \
               f'<text x="10" y="35">—</text></svg>'
    plot = _Plot(width, height, min(days), max(days) or 1, min(0.0, min(ys)), _nice_max(max(ys) * 1.05))
    out = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>", *_y_grid(plot), *_month_ticks(plot),
           f'<line x1="{PAD_LEFT}" x2="{width - PAD_RIGHT}" y1="{plot.py(plot.ymin):.1f}" '
           f'y2="{plot.py(plot.ymin):.1f}" class="axis"/>']
    if unit:
        out.append(f'<text x="{PAD_LEFT - 6}" y="{PAD_TOP - 10}" text-anchor="end" class="tick">{escape(unit)}</text>')
    lx = PAD_LEFT
    for one in series:
        out.append(f'<rect x="{lx}" y="6" width="14" height="4" fill="{one.color}"/>'
                   f'<text x="{lx + 18}" y="12" class="legend">{escape(one.label)}</text>')
        lx += _legend_width(one.label)
        out += _bars(plot, one) if one.bars else _polylines(plot, one)
    out.append("</svg>")
    return "".join(out)
