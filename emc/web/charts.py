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
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from html import escape
from typing import TypeGuard

from dateutil.relativedelta import relativedelta

from emc.web.chartscale import nice_ticks, tick_label, value_text
from emc.web.i18n import Translator

PAD_LEFT, PAD_RIGHT, PAD_BOTTOM = 64, 16, 36
LEGEND_ROW = 22  # a legend row at body size (svg.chart .legend in app.css)
MAX_MONTH_TICKS = 12
MAX_MARKERS = 400  # a series with more points (a daily or hourly baseline) is hovered as a line, not point by point

Point = tuple[date | datetime, float | None]


@dataclass
class Series:
    """One series of a chart: a legend label, a colour and (day, value) points; None is a gap. ``band`` is an
    interval around it per point, (day, low, high), drawn as a shaded band around a line or as whiskers on bars;
    ``unit`` is the series' own unit in tooltips when the chart's axis carries two (tce and t CO₂e)."""

    label: str
    color: str
    points: list[Point]
    dashed: bool = False
    bars: bool = False
    unit: str = ""
    band: list[tuple[date | datetime, float, float]] = field(default_factory=list)
    band_label: str = ""


def _day(x: date | datetime) -> float:
    """A point's position on the time axis, in days."""
    return x.toordinal() if isinstance(x, date) and not isinstance(x, datetime) else x.timestamp() / 86400


def _finite(y: float | None) -> TypeGuard[float]:
    """A value to draw (None and NaN are gaps)."""
    return y is not None and math.isfinite(y)


@dataclass(frozen=True)
class _Plot:
    """The plot area, the scales from data to SVG coordinates and the y ticks."""

    width: int
    height: int
    top: int
    x0: float
    x1: float
    ticks: list[Decimal]
    lang: str

    @property
    def ymin(self) -> float:
        return float(self.ticks[0])

    @property
    def ymax(self) -> float:
        return float(self.ticks[-1])

    @property
    def plot_w(self) -> int:
        return self.width - PAD_LEFT - PAD_RIGHT

    @property
    def bottom(self) -> int:
        return self.height - PAD_BOTTOM

    def px(self, x: date | datetime) -> float:
        return PAD_LEFT + (_day(x) - self.x0) / ((self.x1 - self.x0) or 1) * self.plot_w

    def py(self, y: float) -> float:
        return self.bottom - (y - self.ymin) / ((self.ymax - self.ymin) or 1) * (self.bottom - self.top)


def _y_grid(plot: _Plot) -> list[str]:
    """A gridline at each round tick, labelled in the axis's scale (万/亿, k/M)."""
    out = []
    for value in plot.ticks:
        y = plot.py(float(value))
        out.append(f'<line x1="{PAD_LEFT}" x2="{plot.width - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
                   f'{escape(tick_label(value, plot.ticks, plot.lang))}</text>')
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
    """Room a legend entry takes at body size: its swatch, its text (CJK characters are wider) and a gap."""
    return 30 + 8 * len(label) + 7 * sum(1 for ch in label if ord(ch) > 0x2E80)


def _legend_entries(series: list[Series]) -> list[tuple[str, str, str]]:
    """(label, colour, swatch kind) of each series, and of each uncertainty band after its series."""
    out = []
    for one in series:
        out.append((one.label, one.color, "bar" if one.bars else "dash" if one.dashed else "line"))
        if one.band and one.band_label:
            out.append((one.band_label, one.color, "whisker" if one.bars else "band"))
    return out


def _legend(series: list[Series], width: int) -> tuple[list[str], int]:
    """The legend, wrapped into rows that fit the width; returns its elements and its height."""
    out, lx, row = [], PAD_LEFT, 0
    for label, color, kind in _legend_entries(series):
        w = _legend_width(label)
        if lx + w > width - PAD_RIGHT and lx > PAD_LEFT:
            lx, row = PAD_LEFT, row + 1
        y = 8 + row * LEGEND_ROW
        swatch = {"band": f'<rect x="{lx}" y="{y}" width="18" height="12" fill="{color}" opacity="0.18"/>',
                  "whisker": f'<line x1="{lx + 9}" x2="{lx + 9}" y1="{y - 1}" y2="{y + 13}" stroke="{color}" '
                             f'stroke-width="2"/>',
                  "bar": f'<rect x="{lx}" y="{y + 1}" width="18" height="10" fill="{color}" opacity="0.75"/>',
                  "dash": f'<line x1="{lx}" x2="{lx + 18}" y1="{y + 6}" y2="{y + 6}" stroke="{color}" '
                          f'stroke-width="2" stroke-dasharray="5 3"/>'}.get(
            kind, f'<line x1="{lx}" x2="{lx + 18}" y1="{y + 6}" y2="{y + 6}" stroke="{color}" stroke-width="2"/>')
        out.append(f'{swatch}<text x="{lx + 24}" y="{y + 11}" class="legend">{escape(label)}</text>')
        lx += w
    return out, (row + 1) * LEGEND_ROW


def _when(x: date | datetime, monthly: bool) -> str:
    if isinstance(x, datetime):
        return x.strftime("%Y-%m-%d %H:%M")
    return x.strftime("%Y-%m") if monthly else x.isoformat()


def _tip(plot: _Plot, series: Series, unit: str, x: date | datetime, y: float, monthly: bool) -> str:
    """A point's tooltip: when, which series, the value with separators and its unit."""
    text = f"{_when(x, monthly)} · {series.label}: {value_text(y, plot.lang)} {series.unit or unit}".rstrip()
    return f"<title>{escape(text)}</title>"


def _monthly(series: Series) -> bool:
    return all(not isinstance(x, datetime) and x.day == 1 for x, _ in series.points)


def _bars(plot: _Plot, series: Series, unit: str) -> list[str]:
    bw = max(2.0, plot.plot_w / max(1, len(series.points)) * 0.6)
    monthly = _monthly(series)
    out = []
    for x, y in series.points:
        if _finite(y):
            top, base = plot.py(max(y, 0)), plot.py(min(y, 0))
            out.append(f'<rect x="{plot.px(x) - bw / 2:.1f}" y="{top:.1f}" width="{bw:.1f}" '
                       f'height="{base - top:.1f}" fill="{series.color}" opacity="0.75">'
                       f'{_tip(plot, series, unit, x, y, monthly)}</rect>')
    return out


def _polylines(plot: _Plot, series: Series, unit: str) -> list[str]:
    """The series as polylines, broken where a value is missing; a marker with a tooltip on each point."""
    segments: list[list[str]] = [[]]
    for x, y in series.points:
        if _finite(y):
            segments[-1].append(f"{plot.px(x):.1f},{plot.py(y):.1f}")
        else:
            segments.append([])
    dash = ' stroke-dasharray="5 3"' if series.dashed else ""
    out = [f'<polyline fill="none" stroke="{series.color}" stroke-width="1.5"{dash} points="{" ".join(seg)}">'
           f'<title>{escape(series.label)}</title></polyline>' for seg in segments if seg]
    finite = [(x, y) for x, y in series.points if _finite(y)]
    if len(finite) <= MAX_MARKERS:
        monthly = _monthly(series)
        out += [f'<circle cx="{plot.px(x):.1f}" cy="{plot.py(y):.1f}" r="3" fill="{series.color}" class="point">'
                f'{_tip(plot, series, unit, x, y, monthly)}</circle>' for x, y in finite]
    return out


def _band(plot: _Plot, series: Series, unit: str) -> list[str]:
    """The interval around a series: a shaded band around a line, whiskers on bars."""
    rows = [(x, lo, hi) for x, lo, hi in series.band if _finite(lo) and _finite(hi)]
    if not rows:
        return []
    label = escape(series.band_label or series.label)
    if series.bars:
        return [f'<line x1="{plot.px(x):.1f}" x2="{plot.px(x):.1f}" y1="{plot.py(lo):.1f}" y2="{plot.py(hi):.1f}" '
                f'stroke="{series.color}" stroke-width="1.5" class="whisker"><title>{label}: '
                f'{escape(value_text(lo, plot.lang))} – {escape(value_text(hi, plot.lang))} {escape(unit)}</title>'
                f'</line>' for x, lo, hi in rows]
    upper = [f"{plot.px(x):.1f},{plot.py(hi):.1f}" for x, _, hi in rows]
    lower = [f"{plot.px(x):.1f},{plot.py(lo):.1f}" for x, lo, _ in reversed(rows)]
    return [f'<polygon points="{" ".join(upper + lower)}" fill="{series.color}" opacity="0.18" class="band">'
            f'<title>{label}</title></polygon>']


def _starts_at_zero(series: list[Series], ys: list[float]) -> bool:
    """Bars stand on zero, and so does an axis whose data come near it; a line far from zero (a baseline whose
    few per cent of savings would be a hair's breadth on an axis from 0) is scaled to its data instead."""
    return any(one.bars for one in series) or min(ys) <= 0 or min(ys) < 0.5 * max(ys)


def time_chart(series: list[Series], *, width: int = 900, height: int = 260, unit: str = "", title: str = "",
               lang: str = "zh", from_zero: bool | None = None) -> str:
    """An accessible SVG: a <title>, a legend, the unit over the y axis, round y ticks in the language's scale,
    x ticks on the first of each month, a tooltip on every point and bar. ``from_zero=None`` decides from the
    data (:func:`_starts_at_zero`); an axis that does not start at zero says so in its title."""
    days = [_day(x) for one in series for x, _ in one.points]
    ys = [y for one in series for _, y in one.points if _finite(y)]
    ys += [v for one in series for _, lo, hi in one.band for v in (lo, hi) if _finite(v)]
    if not days or not ys:
        return f'<svg class="chart" role="img" viewBox="0 0 {width} 60"><title>{escape(title)}</title>' \
               f'<text x="10" y="35">—</text></svg>'
    zero = _starts_at_zero(series, ys) if from_zero is None else from_zero
    legend, legend_h = _legend(series, width)
    top = legend_h + 30
    height = max(height, top + PAD_BOTTOM + 160)
    plot = _Plot(width, height, top, min(days), max(days) or 1, nice_ticks(min(ys), max(ys), from_zero=zero), lang)
    axis_title = unit if zero else f"{unit} · {Translator(lang)('chart.not_from_zero')}".lstrip(" ·")
    out = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>", *legend, *_y_grid(plot), *_month_ticks(plot),
           f'<line x1="{PAD_LEFT}" x2="{width - PAD_RIGHT}" y1="{plot.bottom}" y2="{plot.bottom}" class="axis"/>']
    if plot.ymin < 0 < plot.ymax:  # bars below zero (a month that used more than its baseline) hang from it
        out.append(f'<line x1="{PAD_LEFT}" x2="{width - PAD_RIGHT}" y1="{plot.py(0):.1f}" y2="{plot.py(0):.1f}" '
                   f'class="axis zero"/>')
    if axis_title:
        out.append(f'<text x="8" y="{top - 12}" class="axis-title">{escape(axis_title)}</text>')
    for one in series:
        out += _band(plot, one, unit)
    for one in series:
        out += _bars(plot, one, unit) if one.bars else _polylines(plot, one, unit)
    out.append("</svg>")
    return "".join(out)
