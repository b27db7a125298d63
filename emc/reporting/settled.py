"""The contract year as settled, for the annual M&V report: its approved settlements, whether they used the
savings the data give today, and the guarantee met or missed with the money that follows.

The report never settles anything itself: the guarantee's figures and money come from the contract year's
**approved** (issued, paid) ``year_end`` true-up and the period settlements beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session, col

from emc.contracts.models import Contract
from emc.contracts.spec import CostCustody, GuaranteedSavings
from emc.i18n import Translator
from emc.i18n.messages import warning_text
from emc.reporting.measured import MeasuredUtility, utility_names
from emc.reports import mv_report as r
from emc.settlement import period_inputs, records
from emc.settlement.core.lines import ESCO
from emc.settlement.core.periods import ContractYear
from emc.settlement.models import Settlement, SettlementLine, SettlementStatus

FROZEN = (SettlementStatus.approved, SettlementStatus.issued, SettlementStatus.paid)
STATUS_ZH = {"draft": "草稿", "submitted": "待审批", "approved": "已批准", "issued": "已出具", "paid": "已支付"}
GUARANTEE_CODES = frozenset({"shortfall", "shortfall_netted", "surplus_share", "guarantee_penalty"})
UNIT_PAYMENT_CODES = frozenset({"savings_payment", "savings_true_up"})

Guaranteed = GuaranteedSavings | CostCustody  # a component that guarantees savings (custody: a savings rate)


def tidy(value: Decimal) -> Decimal:
    """90000.000 → 90000 (a whole quantity prints without zeros); 144303.304 stays."""
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value


def settlements(session: Session, contract: Contract, year: ContractYear) -> list[Settlement]:
    """The contract year's approved (issued, paid) settlements, every version."""
    return list(session.execute(select(Settlement).where(
        col(Settlement.contract_id) == contract.id, col(Settlement.contract_year) == year.number,
        col(Settlement.status).in_(list(FROZEN))).order_by(col(Settlement.period_start), col(Settlement.kind),
                                                           col(Settlement.version))).scalars())


def _latest(rows: Sequence[Settlement]) -> dict[tuple[str, date], Settlement]:
    """The newest approved version of each (kind, period)."""
    out: dict[tuple[str, date], Settlement] = {}
    for row in rows:
        key = (row.kind, row.period_start)
        if key not in out or row.version > out[key].version:
            out[key] = row
    return out


def cross_check(frozen: Sequence[Settlement], results: Sequence[MeasuredUtility], warnings: list[r.Bilingual]) -> None:
    """Say so when the approved settlements used other savings than the data now give (a baseline replaced,
    readings corrected after approval)."""
    periods = [row for (kind, _), row in _latest(frozen).items() if kind == "period"]
    for done in results:
        values = [row.inputs.get(f"savings.{done.utility}.savings") for row in periods]
        settled = [Decimal(v) for v in values if v is not None]
        if not settled or len(settled) != len(periods):
            continue
        total = sum(settled, Decimal(0))
        if abs(float(total) - done.savings_exact) > max(1.0, 1e-4 * abs(float(total))):
            warnings.append(f"{done.result.utility}：已批准结算单按节约量 {total:,} {done.result.unit} 结算，现有数据"
                            f"重算为 {done.savings_exact:,.3f}；基准或读数在批准后有变动，请核对结算调整。")
    flagged = [row.number for row in frozen if row.flagged]
    if flagged:
        warnings.append((f"结算单 {', '.join(flagged)} 已标记：批准后读数有更正。",
                         "Flagged settlements: data changed."))


def guarantees(session: Session, contract: Contract, year: ContractYear, frozen: Sequence[Settlement],
               warnings: list[r.Bilingual]) -> list[r.Guarantee]:
    """Each savings guarantee of the contract, assessed by the year's approved true-up (none, with a warning,
    while the true-up is not approved)."""
    comps: list[Guaranteed] = [
        c for c in period_inputs.terms(session, contract)[-1].terms.components
        if isinstance(c, GuaranteedSavings) or (isinstance(c, CostCustody) and c.savings_rate_guarantee)]
    if not comps:
        return []
    year_end = [row for row in frozen if row.kind == "year_end"]
    if not year_end:
        _true_up_pending(session, contract, year, warnings)
        return []
    latest = max(year_end, key=lambda row: row.version)
    for w in latest.warnings:
        warnings.append((f"年度清算 {latest.number}：{warning_text(w, Translator('zh'))}",
                         f"Year-end {latest.number}: {warning_text(w, Translator('en'))}"))
    lines = {row.id: records.lines_of(session, row) for row in frozen}
    out = []
    for comp in comps:
        figures = _figures(comp, latest, warnings)
        if figures is not None:
            out.append(_guarantee(comp.key, figures, frozen, year_end, latest, lines))
    return out


def _true_up_pending(session: Session, contract: Contract, year: ContractYear, warnings: list[r.Bilingual]) -> None:
    pending = session.execute(select(Settlement).where(
        col(Settlement.contract_id) == contract.id, col(Settlement.kind) == "year_end",
        col(Settlement.contract_year) == year.number)).scalars().first()
    state = f"（年度清算 {pending.number}：{STATUS_ZH.get(pending.status, pending.status)}）" if pending else ""
    warnings.append((f"第{year.number}合同年的年度清算尚未批准{state}，保证量结论及经济后果待定。",
                     "The contract-year true-up is not approved yet: the guarantee is not assessed."))


def _figures(comp: Guaranteed, latest: Settlement,
             warnings: list[r.Bilingual]) -> tuple[str, str, Decimal, Decimal] | None:
    """(what, unit, guaranteed, achieved) as the true-up recorded them; None, with a warning, if it did not."""
    key = comp.key
    if isinstance(comp, GuaranteedSavings):
        verified, guaranteed = latest.inputs.get(f"{key}.verified"), latest.inputs.get(f"{key}.guaranteed")
        if verified is None or guaranteed is None:
            warnings.append(f"年度清算 {latest.number} 未记录保证量 {key} 的核定数据。")
            return None
        zh, _, unit = utility_names(str(comp.utilities[0]))
        return zh, unit, tidy(Decimal(guaranteed)), tidy(Decimal(verified))
    achieved = latest.inputs.get(f"{key}.achieved_rate")
    if achieved is None:
        warnings.append(f"年度清算 {latest.number} 未评定节能率保证 {key}。")
        return None
    return ("综合节约率", "%", (Decimal(comp.savings_rate_guarantee or 0) * 100).quantize(Decimal("0.01")),
            (Decimal(achieved) * 100).quantize(Decimal("0.01")))


def _guarantee(key: str, figures: tuple[str, str, Decimal, Decimal], frozen: Sequence[Settlement],
               year_end: Sequence[Settlement], latest: Settlement,
               lines: dict[int | None, list[SettlementLine]]) -> r.Guarantee:
    """One guarantee: its money toward the ESCO from the true-up's guarantee lines, and the words for it."""
    zh, unit, g, a = figures
    guarantee_lines = [(row, line) for row in year_end for line in lines[row.id]
                       if line.component == key and line.kind in GUARANTEE_CODES]
    money = sum((_toward_esco(line) for _, line in guarantee_lines), Decimal(0))
    paid_units = sum((_toward_esco(line) for row in frozen for line in lines[row.id]
                      if line.component == key and line.kind in UNIT_PAYMENT_CODES), Decimal(0))
    numbers = sorted({row.number for row, _ in guarantee_lines} or {latest.number})
    where = "；".join(f"结算单 {n}（{STATUS_ZH.get(s, s)}）" for n, s in
                     sorted({(row.number, row.status) for row in year_end if row.number in numbers}))
    parts = _consequence(money, [line for _, line in guarantee_lines], a >= g)
    if paid_units:
        parts.append(f"另：本合同年按核定节约量付费合计 {paid_units:,.2f} 元。")
    parts.append(f"依据 {where}")
    return r.Guarantee(zh, unit, g, a, money, " ".join(parts))


def _consequence(money: Decimal, guarantee_lines: list[SettlementLine], met: bool) -> list[str]:
    """Who pays whom, and how the true-up reached it (or that nothing is owed)."""
    parts = []
    if money < 0:
        parts.append(f"节能服务公司向用能单位赔付 {-money:,.2f} 元。")
    elif money > 0:
        parts.append(f"用能单位向节能服务公司支付 {money:,.2f} 元。")
    if guarantee_lines:
        parts.append("；".join(line.formula for line in guarantee_lines) + "。")
    elif met:
        parts.append("已达到保证量，无短缺赔付。")
    else:
        parts.append("未达到保证量，但已批准的年度清算中无赔付。")
    return parts


def _toward_esco(line: SettlementLine) -> Decimal:
    """A line's amount seen from the ESCO: + it receives, − it pays."""
    if line.payee == ESCO:
        return Decimal(line.amount)
    if line.payer == ESCO:
        return -Decimal(line.amount)
    return Decimal(0)
