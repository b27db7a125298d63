"""Annual M&V report (年度节能量测量与验证报告) as a PDF, from plain data.

Per utility: the baseline model and its ASHRAE Guideline 14 acceptance gates, a monthly chart of actual use
against the adjusted baseline, savings with their uncertainty; then non-routine adjustments, the guaranteed
savings met or missed with the money that follows, and the carbon reduced. Same data → byte-identical PDF.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, KeepTogether, Paragraph, Spacer

from emc.reports import pdf
from emc.reports.amounts import chinese_uppercase, format_yuan
from emc.reports.pdf import (
    CONTENT_WIDTH,
    GREY,
    HEAD_FILL,
    INK,
    Bilingual,
    Part,
    TextBlock,
    bi,
    bilingual_parts,
    clean,
    esc,
    grid_table,
    head,
    number,
    section,
    styles,
    text,
)
from emc.reports.statement import Adjustment, Party

W = CONTENT_WIDTH
BASELINE_COLOUR = colors.HexColor("#1F4E9A")
ACTUAL_COLOUR = colors.HexColor("#C0392B")


@dataclass(frozen=True)
class Gate:
    """One acceptance test of the baseline model, e.g. CV(RMSE) 9.8 % ≤ 15 %."""

    name: str
    value: str  # as printed: "9.8%"
    limit: str  # "≤ 15%"
    passed: bool


@dataclass(frozen=True)
class ModelSummary:
    model: str  # 三参数制冷变点模型 3PC
    granularity: str  # 月度账单 monthly billing
    baseline_start: date
    baseline_end: date
    n: int
    p: int
    r2: str
    cvrmse: str
    nmbe: str
    gates: Sequence[Gate]
    gate_source: str = "ASHRAE Guideline 14-2014"
    details: Sequence[tuple[str, str, str]] = ()  # extra rows (label, English label, text): approval, meters …


@dataclass(frozen=True)
class Month:
    month: date  # any day in the month
    adjusted_baseline: Decimal
    actual: Decimal

    @property
    def savings(self) -> Decimal:
        return self.adjusted_baseline - self.actual


@dataclass(frozen=True)
class UtilityResult:
    utility: str
    utility_en: str
    unit: str
    model: ModelSummary
    months: Sequence[Month]
    savings: Decimal  # for the year, after non-routine adjustments
    uncertainty: Decimal | None  # ± in `unit` at `confidence`
    confidence: str = "90%"


@dataclass(frozen=True)
class Guarantee:
    """Guaranteed savings (保证节能量) against what was achieved, and the money that follows."""

    utility: str
    unit: str
    guaranteed: Decimal
    achieved: Decimal
    consequence: Decimal  # CNY; negative: the ESCO compensates the institution
    consequence_text: str  # how the amount was reached, in words

    @property
    def met(self) -> bool:
        return self.achieved >= self.guaranteed


@dataclass(frozen=True)
class CarbonRow:
    utility: str
    savings: Decimal
    unit: str
    factor: Decimal
    factor_unit: str  # kgCO₂/kWh
    factor_version: str
    reduction_t: Decimal  # tCO₂
    standard_coal_t: Decimal | None = None  # tce saved (折标准煤), when the utility has a coal equivalent


@dataclass(frozen=True)
class MVReport:
    number: str
    contract_code: str
    contract_name: str
    institutions: Sequence[Party]
    esco: Party
    period_start: date
    period_end: date
    issue_date: date
    utilities: Sequence[UtilityResult]
    adjustments: Sequence[Adjustment] = ()
    guarantee: Guarantee | None = None
    carbon: Sequence[CarbonRow] = ()
    notes: Sequence[Bilingual] = ()
    warnings: Sequence[Bilingual] = ()  # incomplete data, failed checks: printed in a box under the header
    method: str = "IPMVP 选项C（整体设施）· GB/T 28750 · ASHRAE Guideline 14-2014"
    title: str = "年度节能量测量与验证报告"
    title_en: str = "Annual Measurement & Verification Report"


def _period(report: MVReport) -> str:
    return f"{report.period_start:%Y-%m-%d} 至 {report.period_end:%Y-%m-%d}"


def monthly_chart(result: UtilityResult, width: float = W, height: float = 54 * mm) -> Drawing:
    """Monthly actual use against the adjusted baseline (vector, in the CJK font)."""
    font = styles().font
    drawing = Drawing(width, height)
    drawing.initialFontName = font  # type: ignore[attr-defined]  # else Helvetica, a non-embedded font
    chart = HorizontalLineChart()
    chart.x, chart.y = 46, 30
    chart.width, chart.height = width - 60, height - 52
    chart.data = [[float(m.adjusted_baseline) for m in result.months], [float(m.actual) for m in result.months]]
    chart.categoryAxis.categoryNames = [f"{m.month:%Y-%m}"[2:] for m in result.months]
    for axis in (chart.categoryAxis, chart.valueAxis):
        axis.labels.fontName = font
        axis.labels.fontSize = 7
        axis.strokeColor = GREY
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labelTextFormat = lambda v: f"{v:,.0f}"
    chart.valueAxis.visibleGrid = True
    chart.valueAxis.gridStrokeColor = colors.HexColor("#DDDDDD")
    chart.valueAxis.gridStrokeWidth = 0.4
    chart.lines[0].strokeColor = BASELINE_COLOUR
    chart.lines[0].strokeDashArray = [3, 2]
    chart.lines[0].strokeWidth = 1.4
    chart.lines[1].strokeColor = ACTUAL_COLOUR
    chart.lines[1].strokeWidth = 1.6
    drawing.add(chart)
    # The chart names its utility: a page break may separate it from its section heading.
    drawing.add(String(0, height - 10, clean(f"{result.utility} · {result.unit}"), fontName=font,
                       fontSize=7.5, fillColor=GREY))
    legend = Legend()
    legend.fontName = font
    legend.fontSize = 7.5
    legend.alignment = "right"
    legend.columnMaximum = 1
    legend.x, legend.y = 60, 10
    legend.dx, legend.dy = 14, 2
    legend.deltax = 150
    legend.colorNamePairs = [(BASELINE_COLOUR, clean("调整后基准")), (ACTUAL_COLOUR, clean("实际用量"))]
    drawing.add(legend)
    return drawing


def _verdict(passed: bool) -> TextBlock:
    if passed:
        return TextBlock([("通过", 8.5, INK), ("pass", 6.6, GREY)], "CENTER")
    return TextBlock([("未通过", 8.5, ACTUAL_COLOUR), ("FAIL", 6.6, ACTUAL_COLOUR)], "CENTER")


def _report_header(report: MVReport) -> list[Flowable]:
    s = styles()
    institutions = [part for p in report.institutions for part in ((p.name, 8.5, INK), (p.name_en, 6.8, GREY))]
    rows: list[list[Any]] = [
        [head("合同编号", "Contract", "LEFT"), TextBlock([(report.contract_code, 8.5, INK),
                                                         (report.contract_name, 8.5, INK)]),
         head("报告期", "Reporting period", "LEFT"), text(_period(report))],
        [head("用能单位", "Institution(s)", "LEFT"), TextBlock(institutions),
         head("节能服务公司", "ESCO", "LEFT"),
         TextBlock([(report.esco.name, 8.5, INK), (report.esco.name_en, 6.8, GREY)])],
        [head("方法", "Method", "LEFT"), text(report.method), "", ""],
    ]
    table = grid_table(rows, [0.15 * W, 0.35 * W, 0.15 * W, 0.35 * W], header_rows=0,
                       extra=[("SPAN", (1, 2), (3, 2)), ("BACKGROUND", (0, 0), (0, -1), HEAD_FILL),
                              ("BACKGROUND", (2, 0), (2, 1), HEAD_FILL)])
    return [Paragraph(esc(report.title), s.title), Paragraph(esc(report.title_en), s.title_en), Spacer(1, 2 * mm),
            TextBlock([(f"编号 No.: {report.number}    编制日期 Issued: {report.issue_date:%Y-%m-%d}", 9.5, INK)]),
            Spacer(1, 3 * mm), table]


def _summary_table(report: MVReport) -> Flowable:
    rows: list[list[object]] = [[head("能源/资源", "Utility"), head("单位", "Unit"), head("节约量", "Savings"),
                                 head("不确定度", "Uncertainty"), head("相对不确定度", "Fractional"),
                                 head("基准模型检验", "G14 gates")]]
    for r in report.utilities:
        if r.uncertainty is None:
            u, fsu = "—", "—"
        else:
            u = f"±{number(r.uncertainty)} @{r.confidence}"
            fsu = f"{abs(r.uncertainty / r.savings) * 100:.1f}%" if r.savings else "—"
        rows.append([bi(r.utility, r.utility_en), r.unit, number(r.savings) if r.months else "—", u, fsu,
                     _verdict(all(g.passed for g in r.model.gates))])
    widths = [0.16 * W, 0.09 * W, 0.18 * W, 0.24 * W, 0.15 * W, 0.18 * W]
    return grid_table(rows, widths, extra=[("ALIGN", (1, 1), (1, -1), "CENTER"), ("ALIGN", (2, 1), (4, -1), "RIGHT")])


def _model_table(result: UtilityResult) -> list[Flowable]:
    m = result.model
    baseline = f"{m.baseline_start:%Y-%m-%d} 至 {m.baseline_end:%Y-%m-%d}"
    # The model's name spans the row (split models have long names); CV(RMSE) and NMBE are in the gates below.
    info: list[list[object]] = [
        [head("模型", "Model", "LEFT"), text(m.model), "", ""],
        [head("基准期", "Baseline period", "LEFT"), text(baseline), head("数据粒度", "Granularity", "LEFT"),
         text(m.granularity)],
        [head("样本/参数", "n / p", "LEFT"), text(f"n = {m.n}, p = {m.p}"), head("R²", "", "LEFT"), text(m.r2)]]
    extra: list[tuple[object, ...]] = [("SPAN", (1, 0), (3, 0)), ("BACKGROUND", (0, 0), (0, -1), HEAD_FILL),
                                       ("BACKGROUND", (2, 1), (2, 2), HEAD_FILL)]
    for zh, en, value in m.details:
        extra.append(("SPAN", (1, len(info)), (3, len(info))))
        info.append([head(zh, en, "LEFT"), text(value, size=8), "", ""])
    table = grid_table(info, [0.15 * W, 0.35 * W, 0.15 * W, 0.35 * W], header_rows=0, extra=extra)
    gate_rows: list[list[object]] = [[head("检验项", "Gate"), head("结果", "Value"), head("限值", "Limit"),
                                      head("结论", "Result")]]
    for g in m.gates:
        gate_rows.append([text(g.name), g.value, g.limit, _verdict(g.passed)])
    gates = grid_table(gate_rows, [0.34 * W, 0.22 * W, 0.22 * W, 0.22 * W], extra=[("ALIGN", (1, 1), (2, -1), "RIGHT")])
    source = TextBlock([(f"检验依据：{m.gate_source}", 7, INK)])
    return [table, Spacer(1, 2 * mm), gates, Spacer(1, 1 * mm), source]


def _months_table(result: UtilityResult) -> Flowable:
    rows: list[list[object]] = [[head("月份", "Month"), head("调整后基准", "Adjusted baseline"),
                                 head("实际用量", "Actual"), head("节约量", "Savings"), head("节约率", "Rate")]]
    for m in result.months:
        rate = f"{m.savings / m.adjusted_baseline * 100:.1f}%" if m.adjusted_baseline else "—"
        rows.append([f"{m.month:%Y-%m}", number(m.adjusted_baseline), number(m.actual), number(m.savings), rate])
    base = sum((m.adjusted_baseline for m in result.months), Decimal(0))
    actual = sum((m.actual for m in result.months), Decimal(0))
    rows.append([bi("合计", "Total", align="CENTER"), number(base), number(actual), number(base - actual),
                 f"{(base - actual) / base * 100:.1f}%" if base else "—"])
    return grid_table(rows, [0.16 * W, 0.22 * W, 0.22 * W, 0.22 * W, 0.18 * W],
                      extra=[("ALIGN", (1, 1), (-1, -1), "RIGHT"), ("ALIGN", (0, 1), (0, -1), "CENTER"),
                             ("BACKGROUND", (0, -1), (-1, -1), pdf.TOTAL_FILL)])


def _adjustments(report: MVReport) -> list[Flowable]:
    rows: list[list[object]] = [[head("序号", "No."), head("能源", "Utility"), head("调整内容", "Adjustment"),
                                 head("调整量", "Quantity"), head("原因", "Reason"), head("依据", "Reference")]]
    for i, a in enumerate(report.adjustments, start=1):
        quantity = f"{'+' if a.quantity > 0 else ''}{number(a.quantity)} {a.unit}"
        rows.append([str(i), text(a.utility), text(a.description), text(quantity, align="RIGHT"), text(a.reason),
                     text(a.reference, size=7.5)])
    return [grid_table(rows, [0.05 * W, 0.09 * W, 0.25 * W, 0.13 * W, 0.28 * W, 0.20 * W],
                       extra=[("ALIGN", (0, 1), (0, -1), "CENTER")])]


def _guarantee(g: Guarantee) -> Flowable:
    verdict = ("已达到 Met", INK) if g.met else ("未达到 Missed", ACTUAL_COLOUR)
    money = g.consequence
    rows: list[list[Any]] = [
        [head("保证节能量", "Guaranteed", "LEFT"), text(f"{number(g.guaranteed)} {g.unit}（{g.utility}）"),
         head("实际节能量", "Achieved", "LEFT"), text(f"{number(g.achieved)} {g.unit}")],
        [head("结论", "Verdict", "LEFT"), TextBlock([(verdict[0], 10, verdict[1])]),
         head("差额", "Difference", "LEFT"), text(f"{number(g.achieved - g.guaranteed)} {g.unit}")],
        [head("经济后果", "Money consequence", "LEFT"),
         TextBlock([(format_yuan(money), 10, INK), (f"人民币（大写）{chinese_uppercase(money)}", 8.5, INK),
                    (g.consequence_text, 8, GREY)]), "", ""],
    ]
    return grid_table(rows, [0.15 * W, 0.35 * W, 0.15 * W, 0.35 * W], header_rows=0,
                      extra=[("SPAN", (1, 2), (3, 2)), ("BACKGROUND", (0, 0), (0, -1), HEAD_FILL),
                             ("BACKGROUND", (2, 0), (2, 1), HEAD_FILL)])


def _carbon(report: MVReport) -> Flowable:
    coal = any(c.standard_coal_t is not None for c in report.carbon)
    rows: list[list[object]] = [[head("能源", "Utility"), head("节约量", "Savings"), head("排放因子", "Factor"),
                                 head("因子版本", "Factor version"), head("减排量 (tCO₂)", "Reduction")]]
    if coal:
        rows[0].insert(4, head("折标准煤 (tce)", "Coal equivalent"))
    for c in report.carbon:
        row: list[object] = [text(c.utility), text(f"{number(c.savings)} {c.unit}", align="RIGHT"),
                             text(f"{number(c.factor)} {c.factor_unit}", align="RIGHT"),
                             text(c.factor_version, size=7.5), number(c.reduction_t)]
        if coal:
            row.insert(4, number(c.standard_coal_t))
        rows.append(row)
    total = sum((c.reduction_t for c in report.carbon), Decimal(0))
    total_row: list[object] = [bi("合计", "Total", align="CENTER"), "", "", "", number(total)]
    if coal:
        total_row.insert(4, number(sum((c.standard_coal_t or Decimal(0) for c in report.carbon), Decimal(0))))
    rows.append(total_row)
    if coal:
        widths = [0.12 * W, 0.19 * W, 0.17 * W, 0.22 * W, 0.15 * W, 0.15 * W]
    else:
        widths = [0.16 * W, 0.22 * W, 0.22 * W, 0.22 * W, 0.18 * W]
    last = len(widths) - 1
    return grid_table(rows, widths, extra=[("ALIGN", (4, 1), (last, -1), "RIGHT"),
                                           ("BACKGROUND", (0, -1), (-1, -1), pdf.TOTAL_FILL)])


def _warnings(report: MVReport) -> Flowable:
    parts: list[Part] = [("提示（数据完整性与方法）", 9.0, ACTUAL_COLOUR),
                         ("Warnings: data completeness and method", 7.0, GREY)]
    parts += [part for i, w in enumerate(report.warnings, start=1) for part in bilingual_parts(f"{i}. ", w, 8)]
    return grid_table([[TextBlock(parts)]], [W], header_rows=0,
                      extra=[("BOX", (0, 0), (-1, -1), 0.9, ACTUAL_COLOUR), ("TOPPADDING", (0, 0), (-1, -1), 4),
                             ("BOTTOMPADDING", (0, 0), (-1, -1), 4)])


def flowables(report: MVReport) -> list[Flowable]:
    numbering = iter("一二三四五六七八九十")
    story: list[Flowable] = [*_report_header(report)]
    if report.warnings:
        story += [Spacer(1, 3 * mm), _warnings(report)]
    story += [section(f"{next(numbering)}、节能量汇总", "Savings summary"), _summary_table(report)]
    for r in report.utilities:
        # Heading with its model, chart with its table: a page break never leaves a heading alone at a page
        # foot or a chart apart from the figures it draws.
        # (one KeepTogether each: a nested one reports an endless height and always breaks the page)
        story += [KeepTogether([section(f"{next(numbering)}、{r.utility}", r.utility_en), *_model_table(r)]),
                  Spacer(1, 3 * mm)]
        if r.months:
            story += [KeepTogether([monthly_chart(r), Spacer(1, 2 * mm), _months_table(r)])]
        else:  # an empty chart would look like a drawing error
            story += [TextBlock([("本合同年无数据充分的月份，无节约量可报告。", 9, ACTUAL_COLOUR),
                                 ("No month of the year has enough data to report savings.", 7.5, GREY)])]
    if report.adjustments:
        story += [section(f"{next(numbering)}、非常规调整", "Non-routine adjustments"), *_adjustments(report)]
    if report.guarantee:
        story += [KeepTogether([section(f"{next(numbering)}、保证节能量", "Guaranteed savings"),
                                _guarantee(report.guarantee)])]
    if report.carbon:
        story += [KeepTogether([section(f"{next(numbering)}、碳减排", "Carbon reduced"), _carbon(report)])]
    if report.notes:
        notes = [TextBlock(bilingual_parts(f"{i}. ", n, 8)) for i, n in enumerate(report.notes, start=1)]
        story += [KeepTogether([section(f"{next(numbering)}、说明", "Notes"), *notes])]
    return story


def render_mv_report(report: MVReport) -> bytes:
    """The M&V report as PDF bytes (A4, embedded CJK font, byte-identical for identical data)."""

    def decorate(canvas: Canvas, page: int, pages: int) -> None:
        pdf.draw_running_text(canvas, page=page, pages=pages, left=report.title,
                              right=f"编号 No. {report.number}", footer_left=f"合同 Contract {report.contract_code}",
                              footer_right=_period(report))

    return pdf.build(flowables(report), title=f"{report.title} {report.number}", author=report.esco.name,
                     subject=f"{report.contract_code} {_period(report)}", created=report.issue_date, decorate=decorate,
                     keywords=[report.number, report.contract_code])
