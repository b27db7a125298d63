"""What finance takes away: a period's statements at once (PDFs + one XLSX summary) and list exports."""

from __future__ import annotations

import csv
import io
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from dateutil.relativedelta import relativedelta
from openpyxl import Workbook
from sqlalchemy import func, literal, select
from sqlalchemy.orm import defer
from sqlmodel import Session, col

from emc.config import get_settings
from emc.contracts.models import Contract, ContractInstitution
from emc.dbtypes import UTCDateTime
from emc.i18n import Translator
from emc.money import fen
from emc.org.models import Esco, Institution, User
from emc.org.scope import Scope
from emc.reports.cells import safe_cell
from emc.settlement import statements, workflow
from emc.settlement.models import Settlement, SettlementStatus
from emc.settlement.records import local_day
from emc.settlement.verification import issued_copy

COLUMNS = ("结算单号 number", "合同 contract", "合同名称 name", "节能服务公司 ESCO", "用能单位 institutions",
           "期间起 from", "期间止 to", "类型 kind", "状态 status", "付节能服务公司 to ESCO", "节能服务公司付 from ESCO",
           "净额 net to ESCO", "校验码 code")


def month_bounds(month: str) -> tuple[date, date]:
    year, mon = (int(x) for x in month.split("-"))
    start = date(year, mon, 1)
    return start, start + relativedelta(months=1)


def _rows(session: Session, scope: Scope, where: list, *, offset: int = 0,  # type: ignore[type-arg]
          limit: int | None = None, listing: bool = False) -> list[tuple[Settlement, Contract, Esco, str]]:
    """``listing``: rows only shown or exported as lines, so the frozen inputs and state (kilobytes each, the
    statement's business) are not loaded."""
    query = select(Settlement, Contract, Esco)
    if listing:
        query = query.options(defer(Settlement.inputs), defer(Settlement.state_after))  # type: ignore[arg-type]
    found = session.execute(query.join(Contract, Contract.id == Settlement.contract_id)
                            .join(Esco, Esco.id == Contract.esco_id).where(scope.contracts(), *where)
                            .order_by(Settlement.period_start, Contract.code, Settlement.kind, Settlement.version)
                            .offset(offset).limit(limit)).all()
    names: dict[int, str] = {}
    for cid, name in session.execute(select(ContractInstitution.contract_id, Institution.name).join(
            Institution, Institution.id == ContractInstitution.institution_id)
            .where(ContractInstitution.contract_id.in_({c.id for _, c, _ in found}))
            .order_by(Institution.code)):
        names[cid] = names[cid] + "、" + name if cid in names else name
    return [(s, c, e, names.get(c.id, "")) for s, c, e in found]


def _line(s: Settlement, c: Contract, e: Esco, inst: str) -> list[object]:
    """One statement as a row; its kind and status as a reader says them (issue 16: no internal key in a sheet)."""
    zh = Translator("zh")
    kind, status = zh.label(f"settle.kind.{s.kind}", s.kind), zh.label(f"settle.status.{s.status}", s.status)
    return [s.number, c.code, c.name, e.name, inst, s.period_start, s.last_day, kind, status, s.to_esco,
            s.from_esco, s.net_to_esco, statements.verification_code(s) if s.inputs_hash else ""]


def export_csv(session: Session, scope: Scope, where: list) -> bytes:  # type: ignore[type-arg]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in _rows(session, scope, where, listing=True):
        writer.writerow([safe_cell(str(v)) for v in _line(*row)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def _sheet(book: Workbook, title: str, header: tuple[str, ...], rows: list[list[object]]) -> None:
    sheet = book.create_sheet(title)
    sheet.append(list(header))
    for row in rows:
        sheet.append([safe_cell(v) for v in row])


def export_xlsx(session: Session, scope: Scope, where: list) -> bytes:  # type: ignore[type-arg]
    rows = _rows(session, scope, where, listing=True)
    book = Workbook()
    book.remove(book.active)
    _sheet(book, "明细 statements", COLUMNS, [_line(*r) for r in rows])
    for title, key, label in (("按节能服务公司 ESCO", lambda r: r[2].name, "节能服务公司 ESCO"),
                              ("按用能单位 institution", lambda r: r[3], "用能单位 institutions"),
                              ("按合同 contract", lambda r: r[1].code, "合同 contract")):
        sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
        for r in rows:
            total = sums[key(r)]
            total[0] += r[0].to_esco
            total[1] += r[0].from_esco
            total[2] += r[0].net_to_esco
        grand = [sum((v[i] for v in sums.values()), Decimal(0)) for i in range(3)]
        _sheet(book, title, (label, "付节能服务公司 to ESCO", "节能服务公司付 from ESCO", "净额 net to ESCO"),
               [[k, *v] for k, v in sorted(sums.items())] + [["合计 total", *grand]])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def issue_period(session: Session, scope: Scope, month: str, *, actor: User | str) -> list[Settlement]:
    """Issue every approved settlement of the month in scope (the manager's 'issue the period')."""
    start, end = month_bounds(month)
    issued = []
    for s, _, _, _ in _rows(session, scope, [Settlement.period_start >= start, Settlement.period_start < end,
                                              Settlement.status == SettlementStatus.approved]):
        issued.append(workflow.transition(session, s, "issue", actor=actor))
    return issued


def approved_total(session: Session, scope: Scope, month: str) -> Decimal:
    """The net amount of the month's approved statements in scope: what issuing the period confirms."""
    start, end = month_bounds(month)
    total = session.execute(select(func.coalesce(func.sum(Settlement.net_to_esco), 0))
                            .join(Contract, Contract.id == Settlement.contract_id)
                            .where(scope.contracts(), Settlement.period_start >= start, Settlement.period_start < end,
                                   Settlement.status == SettlementStatus.approved)).scalar_one()
    return fen(Decimal(total))


def period_bundle(session: Session, scope: Scope, month: str, base_url: str | None = None) -> bytes:
    """A zip of the month's issued (and paid) statements as PDFs, with the XLSX summary for finance."""
    start, end = month_bounds(month)
    where = [Settlement.period_start >= start, Settlement.period_start < end,
             Settlement.status.in_([SettlementStatus.issued, SettlementStatus.paid])]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for s, _, _, _ in _rows(session, scope, where):
            info = zipfile.ZipInfo(f"{s.number}.pdf", date_time=(s.period_start.year, s.period_start.month, 1, 0, 0, 0))
            bundle.writestr(info, issued_copy(session, s, base_url))
        info = zipfile.ZipInfo(f"summary-{month}.xlsx", date_time=(start.year, start.month, 1, 0, 0, 0))
        bundle.writestr(info, export_xlsx(session, scope, where))
    return buffer.getvalue()


# -- statements by period (the finance page) ---------------------------------------------------------------
STATEMENT_STATUSES = (SettlementStatus.approved, SettlementStatus.issued, SettlementStatus.paid)


@dataclass
class MonthTotals:
    """One month's statements (by the month their period starts in): counts per status and money."""

    month: str
    counts: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in STATEMENT_STATUSES})
    to_esco: Decimal = Decimal("0.00")
    from_esco: Decimal = Decimal("0.00")
    net: Decimal = Decimal("0.00")
    unpaid: Decimal = Decimal("0.00")  # net to ESCO of the approved and issued, not yet paid
    approved_net: Decimal = Decimal("0.00")  # net to ESCO of the approved: what issuing the month confirms

    @property
    def count(self) -> int:
        return sum(self.counts.values())


GROUPINGS = ("issue", "due", "period")  # the month of issue (default), of the due date, of the period's start


def statement_filter(status: str = "", contract: str = "", overdue: bool = False,
                     today: date | None = None) -> list:  # type: ignore[type-arg]
    """Conditions for the finance page: statements only (approved and after), optionally one status/contract,
    or only the overdue ones (issued, unpaid, past their due date)."""
    where = [Settlement.status == status] if status else [Settlement.status.in_(STATEMENT_STATUSES)]
    if contract:
        where.append(Contract.code == contract)
    if overdue:
        where += [Settlement.status == SettlementStatus.issued, col(Settlement.due_on) < (today or date.min)]
    return where


def _month_key(by: str) -> Any:
    """The column a grouping reads: the issue instant (approved, not yet issued: the approval's), the due day,
    or the period's first day."""
    if by == "issue":
        return func.coalesce(Settlement.issued_at, Settlement.approved_at)
    if by == "due":
        return Settlement.due_on
    return Settlement.period_start


def _month_of(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        value = local_day(value if value.tzinfo else value.replace(tzinfo=UTC))
    return f"{value:%Y-%m}"


def _month_range(by: str, month: str) -> list:  # type: ignore[type-arg]
    start, end = month_bounds(month)
    if by != "issue":
        column = _month_key(by)
        return [column >= start, column < end]
    tz = get_settings().tz  # a local month, as instants
    first = datetime.combine(start, time(), tz).astimezone(UTC)
    last = datetime.combine(end, time(), tz).astimezone(UTC)
    column = _month_key(by)
    return [column >= literal(first, UTCDateTime()), column < literal(last, UTCDateTime())]


def month_totals(session: Session, scope: Scope, where: list, by: str = "period") -> list[MonthTotals]:  # type: ignore[type-arg]
    """Per month, newest first: grouped by the grouping's column and status in the database, folded into months
    here (portable: no date functions that differ between SQLite and PostgreSQL)."""
    key = _month_key(by)
    found = session.execute(select(key, col(Settlement.status), func.count(),
                                   func.sum(Settlement.to_esco), func.sum(Settlement.from_esco),
                                   func.sum(Settlement.net_to_esco))
                            .join(Contract, col(Contract.id) == col(Settlement.contract_id))
                            .where(scope.contracts(), *where).group_by(key, Settlement.status)).all()
    months: dict[str, MonthTotals] = {}
    for at, status, count, to_esco, from_esco, net in found:
        name = _month_of(at)
        if name is None:  # by due month: approved statements have no due date yet
            continue
        m = months.setdefault(name, MonthTotals(name))
        m.counts[status] = m.counts.get(status, 0) + count
        m.to_esco += to_esco or 0
        m.from_esco += from_esco or 0
        m.net += net or 0
        if status != SettlementStatus.paid:
            m.unpaid += net or 0
        if status == SettlementStatus.approved:
            m.approved_net += net or 0
    return [months[k] for k in sorted(months, reverse=True)]


def statement_rows(session: Session, scope: Scope, where: list) -> list[tuple[Settlement, Contract, Esco, str]]:  # type: ignore[type-arg]
    """Settlements in scope with their contract, ESCO and institutions' names."""
    return _rows(session, scope, where)


def month_statements(session: Session, scope: Scope, month: str, where: list, *, offset: int = 0,  # type: ignore[type-arg]
                     limit: int | None = None, by: str = "period") -> list[tuple[Settlement, Contract, Esco, str]]:
    """The month's statements in scope (by the grouping's month): (settlement, contract, ESCO, institutions)."""
    return _rows(session, scope, [*_month_range(by, month), *where], offset=offset, limit=limit, listing=True)
