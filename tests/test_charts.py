"""The pages' SVG charts (emc.web.charts) and their axis numbers (emc.web.chartscale): accessible, gaps stay gaps,
month ticks across a year end, round ticks in 万/亿 (zh) or k/M (en), the unit over the axis, a tooltip on every
point, the uncertainty band, an axis that says when it does not start at zero, and percentages never "-0.0%"."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest

from emc.units import pretty, pretty_text
from emc.web.charts import Series, time_chart
from emc.web.chartscale import nice_step, nice_ticks, percent_text, tick_label, value_text, written


def _ticks(svg: str) -> list[str]:
    return re.findall(r'text-anchor="end" class="tick">([^<]*)</text>', svg)


def test_chart_is_an_accessible_svg_with_legend_unit_and_escaped_title() -> None:
    svg = time_chart([Series("实际 actual", "#1f6f5c", [(date(2024, 1, 1), 8.0), (date(2024, 2, 1), 20.0)])],
                     unit="kWh", title="<baseline> & model")
    assert svg.startswith('<svg class="chart" role="img" viewBox="0 0 900 260"')
    assert "<title>&lt;baseline&gt; &amp; model</title>" in svg
    assert 'class="legend">实际 actual</text>' in svg
    assert 'class="axis-title">kWh</text>' in svg
    assert _ticks(svg) == ["0", "5", "10", "15", "20"]  # round steps, from zero: 8 is not far from it
    assert svg.count('class="grid"') == 5


def test_missing_values_break_the_line_and_bars_skip_them() -> None:
    points: list[tuple[date, float | None]] = [(date(2024, m, 1), None if m == 3 else float(m)) for m in range(1, 7)]
    svg = time_chart([Series("a", "#000", points, dashed=True), Series("b", "#111", points, bars=True)])
    assert svg.count("<polyline") == 2  # January–February, then April–June
    assert svg.count('<polyline fill="none" stroke="#000" stroke-width="1.5" stroke-dasharray="5 3"') == 2
    assert svg.count('fill="#111" opacity="0.75"><title>') == 5  # one bar per value, none for the gap
    assert svg.count('class="point">') == 5  # one hover marker per value, none for the gap


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


@pytest.mark.parametrize(("span", "step"), [(3_747_370, "1E+6"), (48_000, "1E+4"), (0.37, "0.1"), (6000, "2E+3"),
                                            (11, "2.5"), (1, "0.2")])
def test_nice_steps_are_one_two_two_and_a_half_or_five_times_a_power_of_ten(span: float, step: str) -> None:
    assert nice_step(span) == Decimal(step)


def test_ticks_cover_the_data_with_round_numbers() -> None:
    assert nice_ticks(0, 3_747_370) == [Decimal(n) * 10**6 for n in range(5)]
    assert nice_ticks(-10_517.7, 37_475.9) == [Decimal(n) * 10**4 for n in range(-2, 5)]
    assert nice_ticks(95_000, 101_000, from_zero=False) == [Decimal(n) * 1000 for n in range(94, 103, 2)]
    assert nice_ticks(5, 5) == [Decimal(n) for n in range(6)]  # flat data still gets an axis


def test_tick_labels_use_wan_and_yi_in_chinese_and_k_m_in_english() -> None:
    big = nice_ticks(0, 3_747_370)
    assert [tick_label(t, big, "zh") for t in big] == ["0", "100万", "200万", "300万", "400万"]
    assert [tick_label(t, big, "en") for t in big] == ["0", "1M", "2M", "3M", "4M"]
    mixed = nice_ticks(-10_517.7, 37_475.9)
    assert [tick_label(t, mixed, "zh") for t in mixed] == ["-2万", "-1万", "0", "1万", "2万", "3万", "4万"]
    assert [tick_label(t, mixed, "en") for t in mixed] == ["-20k", "-10k", "0", "10k", "20k", "30k", "40k"]
    near = nice_ticks(95_000, 101_000, from_zero=False)
    assert [tick_label(t, near, "zh") for t in near] == ["9.4万", "9.6万", "9.8万", "10.0万", "10.2万"]
    yi = nice_ticks(0, 4.2e8)
    assert tick_label(yi[1], yi, "zh") == "1亿" and tick_label(yi[1], yi, "en") == "100M"
    small = nice_ticks(0, 3_000)
    assert [tick_label(t, small, "zh") for t in small] == ["0", "1,000", "2,000", "3,000"]
    tenths = nice_ticks(0, 0.37)
    assert [tick_label(t, tenths, "zh") for t in tenths] == ["0", "0.1", "0.2", "0.3", "0.4"]


def test_tooltips_give_when_what_value_and_unit() -> None:
    svg = time_chart([Series("实际", "#000", [(date(2024, 3, 1), 12_345.6), (date(2024, 4, 1), 98.7)])], unit="m³")
    assert "<title>2024-03 · 实际: 12,346 m³</title>" in svg
    assert "<title>2024-04 · 实际: 98.70 m³</title>" in svg
    daily = time_chart([Series("a", "#000", [(date(2024, 3, 5), 1.0), (date(2024, 3, 6), 2.0)],
                               unit="tce")], unit="tce · t CO₂e")
    assert "<title>2024-03-05 · a: 1.00 tce</title>" in daily  # the series' own unit on a two-unit axis
    assert value_text(-0.001) == "0.00" and value_text(float("nan")) == "—"


def test_savings_band_and_whiskers_come_from_the_interval() -> None:
    months = [date(2024, m, 1) for m in (1, 2, 3)]
    line = Series("校准基线", "#d9822b", [(d, 100.0) for d in months],
                  band=[(d, 90.0, 110.0) for d in months], band_label="90% 预测区间")
    bars = Series("节约量", "#6b8fd6", [(d, 4.0) for d in months], bars=True,
                  band=[(d, -1.0, 9.0) for d in months])
    svg = time_chart([line], unit="kWh")
    assert svg.count('class="band"><title>90% 预测区间</title></polygon>') == 1
    assert 'class="legend">90% 预测区间</text>' in svg
    assert _ticks(svg)[0] != "0" and "纵轴不从 0 开始" in svg  # a baseline far from zero is scaled to its data
    whiskers = time_chart([bars], unit="kWh")
    assert whiskers.count('class="whisker"><title>节约量: -1.00 – 9.00 kWh</title>') == 3
    assert _ticks(whiskers)[0] == "-2" and 'class="axis zero"' in whiskers  # bars stand on zero
    en = time_chart([line], unit="kWh", lang="en")
    assert "kWh · axis does not start at 0" in en


def test_legend_wraps_and_the_plot_makes_room() -> None:
    many = [Series(f"很长的图例名称 series {i}", "#000", [(date(2024, 1, 1), 1.0), (date(2024, 2, 1), 2.0)])
            for i in range(6)]
    svg = time_chart(many)
    rows = {m for m in re.findall(r'y="(\d+)" class="legend"', svg)}
    assert len(rows) >= 2
    height = int(re.search(r'viewBox="0 0 900 (\d+)"', svg).group(1))  # type: ignore[union-attr]
    assert height >= 260


@pytest.mark.parametrize(("fraction", "signed", "text"), [(-0.00004, True, "0.0%"), (-0.00004, False, "0.0%"),
                                                          (0.0385, True, "+3.9%"), (-0.015, True, "−1.5%"),
                                                          (0.12345, False, "12.3%"), (None, False, "—"),
                                                          (float("nan"), False, "—"), (12.5, False, "1,250.0%")])
def test_percentages_are_rounded_before_they_are_signed(fraction: float | None, signed: bool, text: str) -> None:
    assert percent_text(fraction, signed=signed) == text


def test_contract_terms_are_written_with_separators_and_their_own_decimals() -> None:
    assert written(Decimal("16179328.00")) == "16,179,328.00" and written(160000, "en") == "160,000"
    assert written(0.97) == "0.97" and written(Decimal("-0.00")) == "0.00" and written("16179328.00") == "16,179,328.00"
    assert written("2018-12-01") == "2018-12-01" and written("esco_pays") == "esco_pays"
    assert written(True) is True and written("esco_pays") == "esco_pays"  # not numbers: left as they are


def test_units_are_written_as_people_read_them() -> None:
    assert [pretty(u) for u in ("m3", "Nm3", "kgCO2/m3", "m3/person", "元/m3", "C", "kWh")] == [
        "m³", "Nm³", "kgCO₂/m³", "m³/person", "元/m³", "°C", "kWh"]
    assert pretty_text("shortfall (m3) x 4.60 CNY/m3; a 15,000 m2 roof; meter gm3, m30") == \
        "shortfall (m³) x 4.60 CNY/m³; a 15,000 m² roof; meter gm3, m30"


def test_the_translators_numbers_round_before_they_are_signed() -> None:
    from emc.web.i18n import Translator

    zh = Translator("zh")
    assert zh.number(-0.001, 2) == "0.00" and zh.money("-0.004") == "0.00" and zh.number(-0.4) == "0"
    assert zh.money("-12.345") == "-12.35" and zh.number(16179328) == "16,179,328"  # half up, to the fen
    assert zh.number(float("nan")) == "—" and zh.number(float("inf")) == "—"
