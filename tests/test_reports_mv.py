"""Annual M&V report PDF: gates, savings, guarantee and carbon are there to read; byte-stable; embedded font."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from decimal import Decimal

import pytest
from conftest import unavailable
from pypdf import PdfReader

from emc.reports.amounts import chinese_uppercase
from emc.reports.fonts import CjkFontMissing, cjk_font
from emc.reports.mv_report import render_mv_report
from emc.reports.sample import sample_mv_report


@pytest.fixture(scope="module")
def pdf_bytes() -> bytes:
    try:
        cjk_font()
    except CjkFontMissing as exc:
        unavailable(str(exc))
    return render_mv_report(sample_mv_report())


def test_reader_finds_gates_savings_guarantee_and_carbon(pdf_bytes: bytes) -> None:
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(pdf_bytes)).pages]
    text = "\n".join(pages)
    flat = re.sub(r"\s+", "", text)
    report = sample_mv_report()
    for needle in ("年度节能量测量与验证报告", "ASHRAEGuideline14", "CV(RMSE)", "三参数制冷变点模型", "未通过",
                   "FAIL",
                   "292,190", "±21,450", "未达到", "Missed", "-¥5,092.12", "177.03", "第1页/共",
                   "新增档案库房恒温恒湿空调"):
        assert needle in flat, needle
    assert report.guarantee is not None and not report.guarantee.met
    assert chinese_uppercase(report.guarantee.consequence) in flat  # 负伍仟零玖拾贰元壹角贰分
    power = report.utilities[0]
    assert sum(m.savings for m in power.months) == power.savings
    for month in power.months:  # the monthly table under the chart
        assert f"{month.actual:,}" in text
    assert "24-07" in text  # the chart's month axis is text, not a picture


def test_byte_identical_and_embedded(pdf_bytes: bytes) -> None:
    assert render_mv_report(sample_mv_report()) == pdf_bytes
    report = sample_mv_report()
    changed = replace(report, carbon=[replace(report.carbon[0], reduction_t=Decimal("156.80"))])
    assert render_mv_report(changed) != pdf_bytes
    assert b"/FontFile2" in pdf_bytes
    assert not re.search(rb"/BaseFont\s*/(STSong|Helvetica|Times|Courier)", pdf_bytes)
