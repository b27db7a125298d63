"""Small server-side SVG charts (no JavaScript library, no CDN): lines over time with month ticks."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from html import escape

from dateutil.relativedelta import relativedelta


@dataclass
class Line:
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


def time_chart(lines: list[Line], *, width: int = 900, height: int = 260, unit: str = "", title: str = "") -> str:
    """An accessible SVG: a <title>, a legend, y gridlines with values, x ticks on the first of each month."""
    pad_l, pad_r, pad_t, pad_b = 64, 16, 28, 36
    xs = [p[0] for line in lines for p in line.points]
    ys = [p[1] for line in lines for p in line.points if p[1] is not None and math.isfinite(p[1])]
    if not xs or not ys:
        return f'<svg class="chart" role="img" viewBox="0 0 {width} 60"><title>{escape(title)}</title>' \
               f'<text x="10" y="35">—</text></svg>'
    as_ord = [x.toordinal() if isinstance(x, date) and not isinstance(x, datetime) else x.timestamp() / 86400
              for x in xs]
    x0, x1 = min(as_ord), max(as_ord) or 1
    span = (x1 - x0) or 1
    ymax = _nice_max(max(ys) * 1.05)
    ymin = min(0.0, min(ys))
    plot_w, plot_h = width - pad_l - pad_r, height - pad_t - pad_b

    def px(x: date | datetime) -> float:
        v = x.toordinal() if isinstance(x, date) and not isinstance(x, datetime) else x.timestamp() / 86400
        return pad_l + (v - x0) / span * plot_w

    def py(y: float) -> float:
        return pad_t + plot_h - (y - ymin) / (ymax - ymin) * plot_h

    out = [f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>"]
    for i in range(5):
        y = ymin + (ymax - ymin) * i / 4
        out.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{py(y):.1f}" y2="{py(y):.1f}" class="grid"/>')
        out.append(f'<text x="{pad_l - 6}" y="{py(y) + 4:.1f}" text-anchor="end" class="tick">{_num(y)}</text>')
    first = date.fromordinal(int(x0)) if x0 > 1e5 else date.fromordinal(int(x0))
    d = date(first.year, first.month, 1)
    months = 0
    while d.toordinal() <= x1:
        months += 1
        d += relativedelta(months=1)
    step = max(1, months // 12)
    d, k = date(first.year, first.month, 1), 0
    while d.toordinal() <= x1:
        if d.toordinal() >= x0 and k % step == 0:
            x = px(d)
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{pad_t + plot_h}" y2="{pad_t + plot_h + 4}" class="axis"/>')
            out.append(f'<text x="{x:.1f}" y="{pad_t + plot_h + 16}" text-anchor="middle" class="tick">'
                       f'{d.year % 100:02d}-{d.month:02d}</text>')
        d, k = d + relativedelta(months=1), k + 1
    out.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{py(ymin):.1f}" y2="{py(ymin):.1f}" class="axis"/>')
    if unit:
        out.append(f'<text x="{pad_l - 6}" y="{pad_t - 10}" text-anchor="end" class="tick">{escape(unit)}</text>')
    lx = pad_l
    for line in lines:
        out.append(f'<rect x="{lx}" y="6" width="14" height="4" fill="{line.color}"/>'
                   f'<text x="{lx + 18}" y="12" class="legend">{escape(line.label)}</text>')
        lx += 28 + 8 * len(line.label) + 24 * sum(1 for ch in line.label if ord(ch) > 0x2E80) // 2
        if line.bars:
            bw = max(2.0, plot_w / max(1, len(line.points)) * 0.6)
            for x, y in line.points:
                if y is not None and math.isfinite(y):
                    top, base = py(max(y, 0)), py(min(y, 0))
                    out.append(f'<rect x="{px(x) - bw / 2:.1f}" y="{top:.1f}" width="{bw:.1f}" height="{base - top:.1f}" '
                               f'fill="{line.color}" opacity="0.75"/>')
            continue
        segments, current = [], []
        for x, y in line.points:
            if y is None or not math.isfinite(y):
                if current:
                    segments.append(current)
                current = []
            else:
                current.append(f"{px(x):.1f},{py(y):.1f}")
        if current:
            segments.append(current)
        dash = ' stroke-dasharray="5 3"' if line.dashed else ""
        for seg in segments:
            out.append(f'<polyline fill="none" stroke="{line.color}" stroke-width="1.5"{dash} points="{" ".join(seg)}"/>')
    out.append("</svg>")
    return "".join(out)
