"""Settlement statement (合同能源管理结算单) as a PDF, from plain data.

The statement is what a finance office files and pays from: who pays whom, how much in figures and in 大写,
how every amount was reached (savings, adjustments, tariffs and factors with their versions, each line's
formula in words), payment terms, signature and seal blocks, and a verification code with a QR code.
Same data → byte-identical PDF.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import CondPageBreak, KeepTogether, Paragraph, Spacer, Table, TableStyle

from emc.money import MoneyError, is_exact_fen, to_decimal
from emc.reports import pdf
from emc.reports.amounts import chinese_uppercase, format_yuan
from emc.reports.pdf import (
    CONTENT_WIDTH,
    GREY,
    HEAD_FILL,
    INK,
    TOTAL_FILL,
    Bilingual,
    Part,
    TextBlock,
    bi,
    bilingual_parts,
    esc,
    grid_table,
    head,
    number,
    section,
    styles,
    text,
)


@dataclass(frozen=True)
class Party:
    """An institution, an ESCO or a bureau, with what a payment needs."""

    name: str
    name_en: str = ""
    credit_code: str = ""  # 统一社会信用代码
    bank: str = ""  # 开户银行
    account: str = ""  # 银行账号
    address: str = ""


@dataclass(frozen=True)
class SavingsRow:
    """One utility's savings for the period (IPMVP avoided use: adjusted baseline − actual ± adjustments)."""

    utility: str  # 电力
    utility_en: str  # Electricity
    unit: str  # kWh
    adjusted_baseline: Decimal
    actual: Decimal
    savings: Decimal
    uncertainty: Decimal | None = None  # ± in `unit`, at `confidence`
    confidence: str = "90%"


@dataclass(frozen=True)
class Adjustment:
    """A non-routine adjustment to the baseline, with the reason that justifies it."""

    utility: str
    description: str
    quantity: Decimal  # + raises the adjusted baseline, − lowers it
    unit: str
    reason: str
    reference: str = ""  # approval, minutes, document number


@dataclass(frozen=True)
class Rate:
    """A tariff or a factor, with the version the amounts were computed from."""

    name: str
    value: Decimal
    unit: str
    version: str
    kind: str = "tariff"  # tariff | factor
    source: str = ""


@dataclass(frozen=True)
class LineItem:
    """A money line: what it is, how it was computed (in words) and the amount in whole fen."""

    description: str
    formula: str
    amount: Decimal
    description_en: str = ""
    formula_en: str = ""  # the formula in English, printed whole under the Chinese one


@dataclass(frozen=True)
class AllocationRow:
    """One paying institution's part of the statement's amount, and what it is proportional to."""

    code: str
    name: str
    name_en: str
    basis: Decimal | None  # its use in `unit`; None for a fixed share
    unit: str
    share_percent: Decimal  # of all bases, 2 decimals, for reading (amounts come from exact fractions)
    amount: Decimal


@dataclass(frozen=True)
class Signatory:
    role: str  # 甲方（用能单位）
    role_en: str  # Party A (institution)
    party: Party


@dataclass(frozen=True)
class Statement:
    number: str
    bureau: str  # 主管部门, e.g. 某市机关事务管理局
    institutions: Sequence[Party]
    esco: Party
    contract_code: str
    contract_type: str  # 节能效益分享型
    contract_type_en: str  # shared savings
    period_start: date
    period_end: date
    issue_date: date
    savings: Sequence[SavingsRow]
    lines: Sequence[LineItem]
    payer: Party
    payee: Party
    payment_terms: str
    verification_code: str
    verification_url: str
    contract_name: str = ""
    adjustments: Sequence[Adjustment] = ()
    rates: Sequence[Rate] = ()
    due_date: date | None = None
    notes: Sequence[Bilingual] = ()  # warnings and remarks, printed under the totals
    signatories: Sequence[Signatory] = ()  # default: each institution as 甲方, the ESCO as 乙方
    allocation: Sequence[AllocationRow] = ()  # the split among the institutions; printed when there are several
    allocation_basis: str = ""  # what the split is proportional to, in words (zh, then en)
    allocation_rule: str = ""  # the same as "<basis>:<utility>" (measured_use:electricity), for pages to translate
    date_label: str = "开具日期 Issue date"  # a statement frozen at approval prints its approval date
    due_text: str = ""  # shown when there is no due date yet (it is set when the statement is issued)
    title: str = "合同能源管理结算单"
    title_en: str = "Energy Performance Contract Settlement Statement"
    currency: str = field(default="CNY")
    bureau_en: str = ""  # the bureau's English name, set grey under it

    @property
    def total(self) -> Decimal:
        """Sum of the line amounts, exact to the fen (lines are never rounded here)."""
        return sum((to_decimal(line.amount) for line in self.lines), Decimal("0.00"))

    def signature_blocks(self) -> list[Signatory]:
        if self.signatories:
            return list(self.signatories)
        blocks = [Signatory("甲方（用能单位）", "Party A (institution)", p) for p in self.institutions]
        blocks.append(Signatory("乙方（节能服务公司）", "Party B (ESCO)", self.esco))
        return blocks


def check(statement: Statement) -> None:
    """Refuse what a finance office must never receive: sub-fen amounts, an empty or negative total."""
    if statement.currency != "CNY":
        raise MoneyError(f"statements are in CNY, not {statement.currency}")
    for line in statement.lines:
        if not is_exact_fen(to_decimal(line.amount)):
            raise MoneyError(f"line {line.description!r}: {line.amount} is not in whole fen; round with money.fen()")
    if not statement.lines:
        raise ValueError("a statement needs at least one line")
    if statement.total < 0:
        raise MoneyError(f"total {statement.total} is negative: swap payer and payee so the amount payable is ≥ 0")
    if statement.period_end < statement.period_start:
        raise ValueError("period ends before it starts")
    split = sum((to_decimal(row.amount) for row in statement.allocation), Decimal("0.00"))
    if statement.allocation and split != statement.total:
        raise MoneyError(f"the allocation sums to {split}, the statement to {statement.total}")


# ------------------------------------------------------------------------------------------------ layout

W = CONTENT_WIDTH
SUB = 6.8  # size of English names under Chinese ones


def _period(statement: Statement) -> str:
    return f"{statement.period_start:%Y-%m-%d} 至 {statement.period_end:%Y-%m-%d}"


def _party_parts(party: Party, size: float = 8.5) -> list[Part]:
    return [(party.name, size, INK), (party.name_en, SUB, GREY)]


def _title_block(statement: Statement) -> Table:
    s = styles()
    title = [Paragraph(esc(statement.title), s.title), Paragraph(esc(statement.title_en), s.title_en),
             Spacer(1, 3 * mm),
             TextBlock([(f"编号 No.: {statement.number}", 9.5, INK),
                        (f"{statement.date_label}: {statement.issue_date:%Y-%m-%d}", 9.5, INK)])]
    code = [pdf.QrCode(statement.verification_url, 25 * mm),
            TextBlock([("核验码 Verification", 7, GREY), (statement.verification_code, 7.5, INK)], "CENTER")]
    table = Table([[title, code]], colWidths=[W - 32 * mm, 32 * mm])
    table.setStyle(TableStyle([("FONTNAME", (0, 0), (-1, -1), s.font),
                               ("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0),
                               ("RIGHTPADDING", (0, 0), (-1, -1), 0), ("ALIGN", (1, 0), (1, 0), "CENTER")]))
    return table


def _institution_parts(statement: Statement) -> list[Part]:
    """Every institution; with an allocation table (which lists them all) the first two and a count."""
    shown = list(statement.institutions)
    if len(statement.allocation) <= 1 or len(shown) <= 3:
        return [part for p in shown for part in _party_parts(p)]
    n = len(shown)
    return [*(part for p in shown[:2] for part in _party_parts(p)),
            (f"等 {n} 家用能单位（见分摊表）", 8.5, INK), (f"{n} institutions in all (see the allocation)", SUB, GREY)]


def _header_table(statement: Statement) -> Table:
    institutions = _institution_parts(statement)
    rows = [
        [head("合同编号", "Contract", "LEFT"),
         TextBlock([(statement.contract_code, 8.5, INK), (statement.contract_name, 8.5, INK)]),
         head("合同类型", "Contract type", "LEFT"), bi(statement.contract_type, statement.contract_type_en)],
        [head("结算期间", "Settlement period", "LEFT"), text(_period(statement)),
         head("主管部门", "Supervising bureau", "LEFT"), bi(statement.bureau, statement.bureau_en)],
        [head("用能单位", "Institution(s)", "LEFT"), TextBlock(institutions),
         head("节能服务公司", "ESCO", "LEFT"), TextBlock(_party_parts(statement.esco))],
    ]
    return grid_table(rows, [0.15 * W, 0.35 * W, 0.15 * W, 0.35 * W], header_rows=0,
                      extra=[("BACKGROUND", (0, 0), (0, -1), HEAD_FILL), ("BACKGROUND", (2, 0), (2, -1), HEAD_FILL)])


def _savings_table(statement: Statement) -> Table:
    rows: list[list[object]] = [[
        head("能源/资源", "Utility"), head("单位", "Unit"), head("调整后基准用量", "Adjusted baseline"),
        head("实际用量", "Actual use"), head("节约量", "Savings"), head("节约率", "Savings rate"),
        head("不确定度", "Uncertainty")]]
    for row in statement.savings:
        rate = "—" if not row.adjusted_baseline else f"{row.savings / row.adjusted_baseline * 100:.1f}%"
        if row.uncertainty is None:
            uncertainty = "—"
        else:
            uncertainty = f"±{number(row.uncertainty)}"
            if row.savings:
                uncertainty += f" ({abs(row.uncertainty / row.savings) * 100:.1f}%)"
            uncertainty += f" @{row.confidence}"
        rows.append([bi(row.utility, row.utility_en), row.unit, number(row.adjusted_baseline), number(row.actual),
                     number(row.savings), rate, uncertainty])
    widths = [0.13 * W, 0.08 * W, 0.16 * W, 0.15 * W, 0.15 * W, 0.10 * W, 0.23 * W]
    return grid_table(rows, widths, extra=[("ALIGN", (2, 1), (-1, -1), "RIGHT"), ("ALIGN", (1, 1), (1, -1), "CENTER")])


def _adjustments_table(statement: Statement) -> Table:
    rows: list[list[object]] = [[
        head("序号", "No."), head("能源", "Utility"), head("调整内容", "Adjustment"), head("调整量", "Quantity"),
        head("原因", "Reason"), head("依据", "Reference")]]
    for i, adj in enumerate(statement.adjustments, start=1):
        quantity = f"{'+' if adj.quantity > 0 else ''}{number(adj.quantity)} {adj.unit}"
        rows.append([str(i), text(adj.utility), text(adj.description), text(quantity, align="RIGHT"),
                     text(adj.reason), text(adj.reference, size=7.5)])
    widths = [0.05 * W, 0.09 * W, 0.25 * W, 0.13 * W, 0.28 * W, 0.20 * W]
    return grid_table(rows, widths, extra=[("ALIGN", (0, 1), (0, -1), "CENTER")])


def _rates_table(statement: Statement) -> Table:
    rows: list[list[object]] = [[
        head("类别", "Kind"), head("名称", "Tariff / factor"), head("数值", "Value"), head("单位", "Unit"),
        head("版本", "Version"), head("来源", "Source")]]
    kinds = {"tariff": ("价格", "tariff"), "factor": ("系数", "factor")}
    for rate in statement.rates:
        zh, en = kinds.get(rate.kind, (rate.kind, ""))
        rows.append([bi(zh, en, align="CENTER"), text(rate.name), number(rate.value), text(rate.unit),
                     text(rate.version), text(rate.source, size=7.5)])
    widths = [0.08 * W, 0.28 * W, 0.11 * W, 0.13 * W, 0.15 * W, 0.25 * W]
    return grid_table(rows, widths, extra=[("ALIGN", (2, 1), (2, -1), "RIGHT")])


def _lines_table(statement: Statement) -> Table:
    rows: list[list[object]] = [[
        head("序号", "No."), head("项目", "Item"), head("计算方式", "Formula"), head("金额（元）", "Amount (CNY)")]]
    for i, line in enumerate(statement.lines, start=1):
        rows.append([str(i), bi(line.description, line.description_en), bi(line.formula, line.formula_en),
                     f"{to_decimal(line.amount):,.2f}"])
    total = statement.total
    rows.append(["", bi("合计", "Total"), "", text(format_yuan(total), size=10.5, align="RIGHT")])
    rows.append(["", bi("人民币（大写）", "Amount in words"), text(chinese_uppercase(total), size=10.5), ""])
    widths = [0.06 * W, 0.24 * W, 0.52 * W, 0.18 * W]
    n = len(rows)
    return grid_table(rows, widths, extra=[
        ("ALIGN", (0, 1), (0, -1), "CENTER"), ("ALIGN", (3, 1), (3, -1), "RIGHT"),
        ("SPAN", (2, n - 1), (3, n - 1)), ("BACKGROUND", (0, n - 2), (-1, -1), TOTAL_FILL),
        ("LINEABOVE", (0, n - 2), (-1, n - 2), 0.9, INK),
    ])


def _allocation_table(statement: Statement) -> Table:
    rows: list[list[object]] = [[
        head("序号", "No."), head("代码", "Code"), head("用能单位", "Institution"), head("分摊依据", "Basis"),
        head("占比", "Share"), head("分摊金额（元）", "Amount (CNY)")]]
    for i, row in enumerate(statement.allocation, start=1):
        basis = "—" if row.basis is None else f"{number(row.basis)} {row.unit}"
        rows.append([str(i), text(row.code, size=7), text(row.name), text(basis, align="RIGHT"),
                     f"{row.share_percent:.2f}%", f"{to_decimal(row.amount):,.2f}"])
    bases = [row.basis for row in statement.allocation if row.basis is not None]
    units = {row.unit for row in statement.allocation}
    whole = f"{number(sum(bases, Decimal(0)))} {units.pop()}" if bases and len(units) == 1 else ""
    rows.append(["", "", bi("合计", "Total"), text(whole, align="RIGHT"), "100%", format_yuan(statement.total)])
    n = len(rows)
    widths = [0.06 * W, 0.12 * W, 0.36 * W, 0.18 * W, 0.1 * W, 0.18 * W]
    return grid_table(rows, widths, extra=[
        ("ALIGN", (0, 1), (0, -1), "CENTER"), ("ALIGN", (4, 1), (-1, -1), "RIGHT"),
        ("BACKGROUND", (0, n - 1), (-1, -1), TOTAL_FILL), ("LINEABOVE", (0, n - 1), (-1, n - 1), 0.9, INK)])


def _allocation(statement: Statement, numeral: str) -> list[object]:
    """The split among the paying institutions: a heading that stays with the table's first rows, the basis
    in words, the table (its header repeats on each page it runs onto)."""
    return [CondPageBreak(50 * mm), section(f"{numeral}、费用分摊", "Allocation among the institutions"),
            TextBlock([(line, 7.5 if i == 0 else SUB, INK if i == 0 else GREY)
                       for i, line in enumerate(statement.allocation_basis.split("\n"))]),
            Spacer(1, 1.5 * mm), _allocation_table(statement)]


def _payment_table(statement: Statement) -> Table:
    def party(p: Party, *, bank: bool) -> TextBlock:
        parts = _party_parts(p)
        if p.credit_code:
            parts.append((f"统一社会信用代码 Credit code: {p.credit_code}", 8.5, INK))
        if bank and p.bank:
            parts.append((f"开户银行 Bank: {p.bank}", 8.5, INK))
        if bank and p.account:
            parts.append((f"账号 Account: {p.account}", 8.5, INK))
        return TextBlock(parts)

    total = statement.total
    due = f"{statement.due_date:%Y-%m-%d}" if statement.due_date else (statement.due_text or "—")
    rows: list[list[Any]] = [
        [head("付款方", "Payer", "LEFT"), party(statement.payer, bank=False),
         head("收款方", "Payee", "LEFT"), party(statement.payee, bank=True)],
        [head("应付金额", "Amount payable", "LEFT"),
         TextBlock([(format_yuan(total), 9.5, INK), (chinese_uppercase(total), 8.5, INK)]),
         head("付款期限", "Due date", "LEFT"), text(due)],
        [head("付款条件", "Payment terms", "LEFT"), text(statement.payment_terms), "", ""],
    ]
    return grid_table(rows, [0.14 * W, 0.36 * W, 0.14 * W, 0.36 * W], header_rows=0,
                      extra=[("SPAN", (1, 2), (3, 2)), ("VALIGN", (0, 0), (-1, -1), "TOP"),
                             ("BACKGROUND", (0, 0), (0, -1), HEAD_FILL), ("BACKGROUND", (2, 0), (2, 1), HEAD_FILL)])


def _signature_table(statement: Statement) -> Table:
    cells: list[object] = []
    for block in statement.signature_blocks():
        cells.append([
            bi(block.role, block.role_en, size=8.5),
            Spacer(1, 1 * mm),
            TextBlock(_party_parts(block.party, 9.5)),
            Spacer(1, 4 * mm),
            TextBlock([("（盖章 Seal）", 8, GREY)], "CENTER"),
            Spacer(1, 14 * mm),
            text("授权代表签字 Authorised signature: ____________________"),
            Spacer(1, 2.5 * mm),
            text("日期 Date: ________ 年 ____ 月 ____ 日"),
        ])
    if len(cells) % 2:
        cells.append("")
    rows = [cells[i:i + 2] for i in range(0, len(cells), 2)]
    return grid_table(rows, [W / 2, W / 2], header_rows=0,
                      extra=[("VALIGN", (0, 0), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 4),
                             ("BOTTOMPADDING", (0, 0), (-1, -1), 6), ("LEFTPADDING", (0, 0), (-1, -1), 5)])


def _notes(statement: Statement) -> list[object]:
    if not statement.notes:
        return []
    notes = [TextBlock(bilingual_parts(f"{i}. ", note, 7.5)) for i, note in enumerate(statement.notes, start=1)]
    return [KeepTogether([section("备注", "Notes"), *notes[:3]]), *notes[3:]]


def flowables(statement: Statement) -> list[object]:
    numbering = iter("一二三四五六七八九十")
    story: list[object] = [_title_block(statement), Spacer(1, 3 * mm), _header_table(statement)]
    story += [section(f"{next(numbering)}、节能量汇总", "Savings summary"), _savings_table(statement)]
    if statement.adjustments:
        story += [section(f"{next(numbering)}、非常规调整", "Non-routine adjustments"),
                  _adjustments_table(statement)]
    if statement.rates:
        story += [section(f"{next(numbering)}、价格与系数", "Tariffs and factors"), _rates_table(statement)]
    story += [CondPageBreak(40 * mm), section(f"{next(numbering)}、结算明细", "Settlement lines"),
              _lines_table(statement)]
    story += [KeepTogether([section(f"{next(numbering)}、付款", "Payment"), _payment_table(statement)])]
    story += _allocation(statement, next(numbering)) if len(statement.allocation) > 1 else []
    story += _notes(statement)
    story += [KeepTogether([
        section(f"{next(numbering)}、签章", "Signatures and seals"), _signature_table(statement), Spacer(1, 2 * mm),
        TextBlock([(f"核验 Verify: {statement.verification_url}  ·  核验码 Code: {statement.verification_code}",
                    7.5, GREY)]),
    ])]
    return story


def render_statement(statement: Statement) -> bytes:
    """The statement as PDF bytes (A4, embedded CJK font, byte-identical for identical data)."""
    check(statement)
    story = flowables(statement)

    def decorate(canvas: Canvas, page: int, pages: int) -> None:
        pdf.draw_running_text(
            canvas, page=page, pages=pages,
            left=statement.title,
            right=f"编号 No. {statement.number}",
            footer_left=f"合同 Contract {statement.contract_code}",
            footer_right=f"核验码 Code {statement.verification_code}",
        )

    return pdf.build(story, title=f"{statement.title} {statement.number}", author=statement.payee.name,
                     subject=f"{statement.contract_code} {_period(statement)}", created=statement.issue_date,
                     decorate=decorate, keywords=[statement.number, statement.verification_code])


def write_statement(statement: Statement, path: str | os.PathLike[str]) -> None:
    with open(path, "wb") as fh:
        fh.write(render_statement(statement))
