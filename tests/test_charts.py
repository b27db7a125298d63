"""The pages' SVG charts (emc.web.charts): accessible, gaps stay gaps, month ticks across a year end."""

from __future__ import annotations

import re
from datetime import date

from emc.web.charts import Series, time_chart


def test_chart_is_an_accessible_svg_with_legend_and_escaped_title() -> None:
    svg = time_chart([Series("实际 actual", "#1f6f5c", [(date(2024, 1, 1), 10.0), (date(2024, 2, 1), 20.0)])],
                     unit="kWh", title="<baseline> & model")
    assert svg.startswith('<svg class="chart" role="img" viewBox="0 0 900 260"')
    assert "<title>&lt;baseline&gt; &amp; model</title>" in svg
    assert 'class="legend">实际 actual</text>' in svg
    assert 'class="tick">kWh</text>' in svg
    assert svg.count('class="grid"') == 5


def test_missing_values_break_the_line_and_bars_skip_them() -> None:
    points: list[tuple[date, float | None]] = [(date(2024, m, 1), None if m == 3 else float(m)) for m in range(1, 7)]
    svg = time_chart([Series("a", "#000", points, dashed=True), Series("b", "#111", points, bars=True)])
    assert svg.count("<polyline") == 2  # January–February, then April–June
    assert svg.count('stroke-dasharray="5 3"') == 2
    assert svg.count('opacity="0.75"') == 5  # one bar per value, none for the gap


def test_month_ticks_cross_the_year_end_and_thin_out_over_long_spans() -> None:
    svg = time_chart([Series("a", "#000", [(date(2023, 11, 15), 1.0), (date(2024, 2, 20), 2.0)])])
    assert re.findall(r'class="tick">(\d\d-\d\d)</text>', svg) == ["23-12", "24-01", "24-02"]
    long = time_chart([Series("a", "#000", [(date(2020, 1, 1), 1.0), (date(2023, 12, 31), 2.0)])])
    ticks = re.findall(r'class="tick">(\d\d-\d\d)</text>', long)
    assert ticks[:3] == ["20-01", "20-05", "20-09"] and len(ticks) == 12  # 48 months, every 4th


def test_no_data_gives_a_placeholder_not_an_error() -> None:
    assert time_chart([], title="t") == ('<svg class="chart" role="img" viewBox="0 0 900 60"><title>t</title>'
                                         '<text x="10" y="35">—</text></svg>')
    assert "—" in time_chart([Series("a", "#000", [(date(2024, 1, 1), None)])])
