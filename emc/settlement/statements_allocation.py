"""A multi-institution statement's split among its paying institutions, and who signs for them (issue 16).

Read at approval with the rest of the statement and frozen in its snapshot: each institution's basis (its
metered use of the contract's allocation utility in the period or in the baseline period, or its fixed share
— the contract's ``[allocation]``, contracts/README.md), split to the fen by
:func:`emc.settlement.core.allocation.allocate`. Two queries whatever the period's length."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from sqlalchemy import func, select, tuple_
from sqlmodel import Session, col

from emc.config import get_settings
from emc.contracts.allocation import BUREAU, AllocationSpec, allocation_of, basis_utility
from emc.contracts.models import ContractMeter
from emc.contracts.spec import CANONICAL_UNITS, ContractFile
from emc.metering.models import Meter, Reading
from emc.org.models import Institution, Region
from emc.reports import statement as st
from emc.reports.cells import safe_cell
from emc.settlement.core.allocation import AllocationError, allocate
from emc.units import factor as unit_factor

TENTH = Decimal("0.1")
Names = tuple[str, str, str]  # utility in Chinese, in English, unit as printed


@dataclass(frozen=True)
class Split:
    """What the statement prints: the rows and the basis in words, or why there is no split."""

    rows: list[st.AllocationRow]
    basis: str
    rule: str  # "<basis>:<utility>", e.g. "measured_use:electricity"; "fixed:" for fixed shares
    problem: str = ""


def split(session: Session, contract_id: int, terms: ContractFile, institutions: list[Institution],
          period: tuple[date, date], total: Decimal, names: dict[str, Names]) -> Split:
    """The statement's ``total`` split among ``institutions`` (several of them; ``period`` end exclusive)."""
    term = allocation_of(terms)
    utility = basis_utility(terms)
    zh, en, unit = names.get(utility, (utility, utility, CANONICAL_UNITS.get(utility, "")))
    if term.basis == "fixed":
        weights = {i.code: term.shares.get(i.code, Decimal(0)) for i in institutions}
        basis, basis_en = "按合同约定的固定比例分摊", "Split by the shares the contract fixes"
    else:
        span = period if term.basis == "measured_use" or terms.baseline is None else (
            terms.baseline.start, terms.baseline.end + timedelta(days=1))
        use = metered_use(session, contract_id, utility, *span)
        weights = {i.code: use.get(i.id or 0, Decimal(0)) for i in institutions}
        when = "结算期内" if term.basis == "measured_use" else f"基期（{span[0]} 至 {span[1] - timedelta(days=1)}）"
        when_en = "in the period" if term.basis == "measured_use" else "in the baseline period"
        basis = f"按{when}各单位计量用{zh}量（{unit}）占比分摊"
        basis_en = f"Split by each institution's metered {en.lower()} use {when_en}"
    # Chinese on the first line, English on the second (the statement sets it grey beneath)
    basis = f"{basis}；尾差按最大余额法以分为单位分配\n{basis_en}; the remainder by largest remainder, to the fen"
    rule = f"{term.basis}:{'' if term.basis == 'fixed' else utility}"
    try:
        parts = {p.code: p for p in allocate(total, weights)}
    except AllocationError as exc:
        return Split([], basis, rule, f"未能分摊：{exc}。The amount is not split: {exc}.")
    return Split([st.AllocationRow(i.code, i.name, i.name_en, None if term.basis == "fixed" else weights[i.code],
                                   "" if term.basis == "fixed" else unit, parts[i.code].share_percent,
                                   parts[i.code].amount) for i in sorted(institutions, key=lambda i: i.code)],
                 basis, rule)


def metered_use(session: Session, contract_id: int, utility: str, start: date, end: date) -> dict[int, Decimal]:
    """Each institution's use of ``utility`` over [start, end) from the contract's main meters, in the canonical
    unit: readings inside the span whole, a reading across its edge in proportion to its time inside."""
    tz = ZoneInfo(get_settings().timezone)
    lo, hi = datetime.combine(start, time(), tz), datetime.combine(end, time(), tz)
    group = (select(col(Meter.id)).join(ContractMeter, col(ContractMeter.meter_id) == Meter.id)
             .where(col(ContractMeter.contract_id) == contract_id, col(Meter.utility) == utility,
                    col(Meter.sub_item) == "total"))
    meters = (select(col(Meter.institution_id), col(Meter.unit)).join(Reading, col(Reading.meter_id) == Meter.id)
              .where(col(Meter.id).in_(group)))
    start_col = col(Reading.period_start)
    # every bound on period_start explicit: on PostgreSQL the readings are partitioned by it (docs/scale.md)
    inside = session.execute(meters.add_columns(func.sum(col(Reading.value)))
                             .where(start_col >= lo, start_col < hi, col(Reading.period_end) <= hi)
                             .group_by(col(Meter.institution_id), col(Meter.unit))).all()
    edges = meters.add_columns(col(Reading.value), start_col, col(Reading.period_end))
    # across the end: starts inside, ends after it
    across = list(session.execute(edges.where(start_col >= lo, start_col < hi, col(Reading.period_end) > hi)))
    # across the start: a meter's readings do not overlap (the import refuses overlaps), so only its last
    # reading starting before the span can reach into it — found by one index probe per meter, where "every
    # reading starting before the span and ending after its start" read all of a meter's history
    last_before = (select(start_col).where(col(Reading.meter_id) == Meter.id, start_col < lo)
                   .order_by(start_col.desc()).limit(1).correlate(Meter).scalar_subquery())
    firsts = [tuple(r) for r in session.execute(select(col(Meter.id), last_before).where(col(Meter.id).in_(group)))
              if r[1] is not None]
    if firsts:
        across += session.execute(edges.where(tuple_(col(Reading.meter_id), start_col).in_(firsts),
                                              col(Reading.period_end) > lo))
    raw: dict[tuple[int, str], float] = defaultdict(float)
    for institution, unit, value in inside:
        raw[(institution, unit)] += float(value or 0)
    for institution, unit, value, begins, ends in across:
        begins, ends = begins.astimezone(tz), ends.astimezone(tz)
        within = (min(ends, hi) - max(begins, lo)) / (ends - begins)
        raw[(institution, unit)] += float(value) * within
    canonical = CANONICAL_UNITS.get(utility, "")
    out: dict[int, Decimal] = defaultdict(Decimal)
    for (institution, unit), value in raw.items():
        out[institution] += Decimal(str(value * unit_factor(unit, canonical or unit)))
    # to 0.1 of the unit: what the statement prints is what the split used, so it can be checked by hand
    return {institution: value.quantize(TENTH, ROUND_HALF_UP) for institution, value in out.items()}


def paying_side(session: Session, term: AllocationSpec, institutions: list[Institution]) -> st.Signatory | None:
    """Who signs for all the paying institutions — the supervising bureau, or the institution that represents
    the others; None for a single institution (it signs for itself, as ever)."""
    if len(institutions) <= 1:
        return None
    if term.signatory == BUREAU:
        return st.Signatory("甲方（主管部门，代表各用能单位）", "Party A (supervising bureau, for the institutions)",
                            _bureau(session, institutions))
    rep = next(i for i in institutions if i.code == term.signatory)
    return st.Signatory("甲方（用能单位代表）", "Party A (the institutions' representative)",
                        st.Party(rep.name, rep.name_en))


def signatories(paying: st.Signatory | None, esco: st.Party) -> list[st.Signatory]:
    """One block per party: the paying side once and the ESCO; none given for a single institution, whose
    statement keeps its default blocks (the institution and the ESCO)."""
    return [] if paying is None else [paying, st.Signatory("乙方（节能服务公司）", "Party B (ESCO)", esco)]


def payer_party(paying: st.Signatory, count: int) -> st.Party:
    """The paying side as the payment table names it: who signs, for how many institutions."""
    p = paying.party
    english = f"{p.name_en}, for {count} institutions" if p.name_en else f"for {count} institutions"
    return st.Party(f"{p.name}（代 {count} 家用能单位，见分摊表）", english)


def _bureau(session: Session, institutions: list[Institution]) -> st.Party:
    """The government offices bureau of the institutions' region, when they share one."""
    regions = {i.region_id for i in institutions}
    region = session.get(Region, regions.pop()) if len(regions) == 1 else None
    if region is None:
        return st.Party("机关事务管理局", "Government Offices Administration Bureau")
    return st.Party(f"{region.name}机关事务管理局", f"{region.name_en} Government Offices Administration Bureau")


def table(statement: st.Statement) -> list[list[object]]:
    """The allocation as spreadsheet rows: code, institution, basis, unit, share %, amount; then the total."""
    rows: list[list[object]] = [[r.code, r.name, r.basis if r.basis is not None else "", r.unit, r.share_percent,
                                 r.amount] for r in statement.allocation]
    bases = [r.basis for r in statement.allocation if r.basis is not None]
    rows.append(["", "", sum(bases, Decimal(0)) if bases else "", "", Decimal(100), statement.total])
    return rows


def as_csv(header: list[str], rows: list[list[object]]) -> bytes:
    """UTF-8 with a byte-order mark, which Excel in a Chinese locale needs to read it as UTF-8."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_cell(str(v)) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def as_xlsx(title: str, header: list[str], rows: list[list[object]]) -> bytes:
    """Amounts as numbers with two decimals (the cells hold the exact fen; Excel shows them as money)."""
    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append(header)
    for row in rows:
        sheet.append([safe_cell(v) for v in row])
        sheet.cell(sheet.max_row, 6).number_format = "#,##0.00"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
