"""The money ledger as finance takes it away: entries (CSV/XLSX) and balances per contract and party at a date.

Amounts leave exact: CSV cells carry the Decimal's own digits (``1307829.01``, never a float's), XLSX cells are
numbers written from the Decimal's text with a two-decimal format. Text cells go through
:func:`emc.reports.cells.safe_cell`, so a name beginning with ``=`` cannot run as a formula. Every query is
scoped (:class:`emc.org.scope.Scope`): an ESCO exports only the entries of its own contracts.

Sign convention (as stored, :class:`emc.settlement.models.LedgerEntry`): ``+`` debit, ``−`` credit.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import ColumnElement, case, func, select, type_coerce
from sqlmodel import Session

from emc.contracts.models import Contract, ContractInstitution, ContractVersion
from emc.dbtypes import Money
from emc.errors import DomainError
from emc.org.models import Esco, Institution
from emc.org.scope import Scope
from emc.reports.cells import safe_cell
from emc.settlement.core.lines import ESCO, INSTITUTION, LESSOR, PARTY_ZH
from emc.settlement.models import LedgerEntry, Settlement

PARTIES = (INSTITUTION, ESCO, LESSOR)
PARTY_EN = {INSTITUTION: "institution", ESCO: "ESCO", LESSOR: "lessor"}
ACCOUNT_ZH = {"settlement_payable": "结算应付", "settlement_receivable": "结算应收",
              "penalty_payable": "违约金应付", "penalty_receivable": "违约金应收"}
ZERO = Decimal("0.00")

ENTRY_COLUMNS = ("记账日期 date", "合同 contract", "合同名称 contract name", "结算单号 settlement", "科目 account",
                 "方 party", "名称 party name", "借方 debit", "贷方 credit", "金额 amount (+借 debit −贷 credit)",
                 "摘要 memo")
BALANCE_COLUMNS = ("截至 as of", "合同 contract", "合同名称 contract name", "方 party", "名称 party name",
                   "借方合计 debits", "贷方合计 credits", "余额 balance (+借 debit −贷 credit)")


class LedgerFilterError(DomainError, ValueError):
    """A filter that cannot be read (the message names the parameter)."""


@dataclass(frozen=True)
class LedgerFilter:
    """Which entries: a contract code, a party (institution | esco | lessor), posting dates (inclusive)."""

    contract: str = ""
    party: str = ""
    start: date | None = None
    end: date | None = None

    @classmethod
    def parse(cls, contract: str = "", party: str = "", start: str = "", end: str = "") -> LedgerFilter:
        if party and party not in PARTIES:
            raise LedgerFilterError(f"party {party!r}: one of {', '.join(PARTIES)}")
        days = []
        for name, value in (("from", start), ("to", end)):
            try:
                days.append(date.fromisoformat(value) if value else None)
            except ValueError as exc:
                raise LedgerFilterError(f"{name} {value!r}: write YYYY-MM-DD") from exc
        if days[0] and days[1] and days[0] > days[1]:
            raise LedgerFilterError(f"from {start} is after to {end}")
        return cls(contract.strip(), party, days[0], days[1])

    def where(self, *, balances: bool = False) -> list[ColumnElement[bool]]:
        """Conditions over LedgerEntry and Contract; balances are cumulative, so they ignore ``start``."""
        out: list[ColumnElement[bool]] = []
        if self.contract:
            out.append(Contract.code == self.contract)
        if self.party:
            out.append(LedgerEntry.party == self.party)
        if self.start and not balances:
            out.append(LedgerEntry.posted_on >= self.start)
        if self.end:
            out.append(LedgerEntry.posted_on <= self.end)
        return out


@dataclass(frozen=True)
class EntryRow:
    posted_on: date
    contract: str
    contract_name: str
    settlement: str
    account: str
    party: str
    party_name: str
    amount: Decimal  # + debit, − credit
    memo: str

    @property
    def debit(self) -> Decimal | None:
        return self.amount if self.amount > 0 else None

    @property
    def credit(self) -> Decimal | None:
        return -self.amount if self.amount < 0 else None

    def cells(self) -> list[Any]:
        return [self.posted_on, self.contract, self.contract_name, self.settlement,
                f"{ACCOUNT_ZH.get(self.account, self.account)} {self.account}", _party_label(self.party),
                self.party_name, self.debit, self.credit, self.amount, self.memo]


@dataclass(frozen=True)
class BalanceRow:
    on: date
    contract: str
    contract_name: str
    party: str
    party_name: str
    debits: Decimal
    credits: Decimal  # as a positive sum

    @property
    def balance(self) -> Decimal:
        return self.debits - self.credits

    def cells(self) -> list[Any]:
        return [self.on, self.contract, self.contract_name, _party_label(self.party), self.party_name,
                self.debits, self.credits, self.balance]


def _party_label(party: str) -> str:
    return f"{PARTY_ZH.get(party, party)} {PARTY_EN.get(party, party)}"


def _party_names(session: Session, contracts: Iterable[Contract]) -> dict[tuple[int, str], str]:
    """(contract id, party) → the party's name: the ESCO, the institutions (joined), the lessor of the terms."""
    by_id = {c.id: c for c in contracts if c.id is not None}
    names: dict[tuple[int, str], str] = {}
    if not by_id:
        return names
    for cid, name in session.execute(select(Contract.id, Esco.name).join(Esco, Esco.id == Contract.esco_id)
                                     .where(Contract.id.in_(by_id))):
        names[(cid, ESCO)] = name
    for cid, name in session.execute(select(ContractInstitution.contract_id, Institution.name).join(
            Institution, Institution.id == ContractInstitution.institution_id)
            .where(ContractInstitution.contract_id.in_(by_id)).order_by(Institution.code)):
        key = (cid, INSTITUTION)
        names[key] = names[key] + "、" + name if key in names else name
    for cid, spec in session.execute(select(ContractVersion.contract_id, ContractVersion.spec).join(
            Contract, (Contract.id == ContractVersion.contract_id)
            & (Contract.current_version == ContractVersion.version)).where(Contract.id.in_(by_id))):
        lessors = [str(c["lessor"]) for c in (spec or {}).get("components", []) if c.get("lessor")]
        if lessors:
            names[(cid, LESSOR)] = "、".join(dict.fromkeys(lessors))
    return names


def entries(session: Session, scope: Scope, flt: LedgerFilter) -> list[EntryRow]:
    """The ledger entries in scope matching the filter, by date, contract, settlement and entry."""
    found = session.execute(
        select(LedgerEntry, Settlement.number, Contract)
        .join(Settlement, Settlement.id == LedgerEntry.settlement_id)
        .join(Contract, Contract.id == LedgerEntry.contract_id)
        .where(scope.contracts(), *flt.where())
        .order_by(LedgerEntry.posted_on, Contract.code, Settlement.number, LedgerEntry.id)).all()
    names = _party_names(session, {c.id: c for _, _, c in found}.values())
    return [EntryRow(e.posted_on, c.code, c.name, number, e.account, e.party, names.get((c.id, e.party), ""),
                     e.amount, e.memo) for e, number, c in found]


def balances(session: Session, scope: Scope, flt: LedgerFilter, on: date) -> list[BalanceRow]:
    """Per contract and party: debits, credits and the balance of every entry posted up to the end of ``on``."""
    amount = LedgerEntry.amount
    debit = type_coerce(func.sum(case((amount > 0, amount), else_=ZERO)), Money())
    credit = type_coerce(func.sum(case((amount < 0, -amount), else_=ZERO)), Money())
    rows = session.execute(
        select(Contract, LedgerEntry.party, debit, credit)
        .join(Contract, Contract.id == LedgerEntry.contract_id)
        .where(scope.contracts(), *LedgerFilter(flt.contract, flt.party, None, on).where(balances=True))
        .group_by(Contract.id, LedgerEntry.party).order_by(Contract.code, LedgerEntry.party)).all()
    names = _party_names(session, [c for c, *_ in rows])
    return [BalanceRow(on, c.code, c.name, party, names.get((c.id, party), ""), d or ZERO, cr or ZERO)
            for c, party, d, cr in rows]


# -- files ------------------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    """A CSV cell: decimals with their own digits, dates ISO, text neutralised against formulas."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, date):
        return value.isoformat()
    return str(safe_cell(str(value)))


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_text(v) for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")  # the BOM makes Chinese Excel read UTF-8


def entries_csv(rows: Sequence[EntryRow]) -> bytes:
    return _csv(ENTRY_COLUMNS, (r.cells() for r in rows))


def balances_csv(rows: Sequence[BalanceRow]) -> bytes:
    return _csv(BALANCE_COLUMNS, (r.cells() for r in rows))


MONEY_FORMAT = "#,##0.00;-#,##0.00"


def _sheet(book: Workbook, title: str, header: Sequence[str], rows: Iterable[Sequence[Any]],
           widths: Sequence[int]) -> Worksheet:
    sheet = book.create_sheet(title)
    sheet.append(list(header))
    for row in rows:
        sheet.append([safe_cell(v) for v in row])
    for i, width in enumerate(widths):
        sheet.column_dimensions[chr(ord("A") + i)].width = width
    for column in sheet.iter_cols(min_row=2):
        for cell in column:
            if isinstance(cell.value, Decimal):
                cell.number_format = MONEY_FORMAT
            elif isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
    sheet.freeze_panes = "A2"
    return sheet


def ledger_xlsx(rows: Sequence[EntryRow], totals: Sequence[BalanceRow]) -> bytes:
    """Two sheets: the entries, and the balances per contract and party at the date asked for."""
    book = Workbook()
    book.remove(book.active)
    _sheet(book, "分录 entries", ENTRY_COLUMNS, (r.cells() for r in rows),
           (12, 18, 30, 24, 28, 16, 30, 15, 15, 18, 30))
    _sheet(book, "余额 balances", BALANCE_COLUMNS, (r.cells() for r in totals), (12, 18, 30, 16, 30, 16, 16, 18))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()

