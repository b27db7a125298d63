"""The portfolio the bureau opens first: every contract in scope with its money and savings to date."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlmodel import Session, col

from emc.contracts import queries
from emc.contracts.models import Contract, ContractVersion
from emc.org.scope import Scope
from emc.settlement.core import guarantee_status as gs
from emc.settlement.models import Settlement, SettlementLine, SettlementStatus

ZERO = Decimal("0.00")


@dataclass
class PortfolioRow:
    contract: queries.ContractRow
    savings: dict[str, Decimal] = field(default_factory=dict)  # verified savings to date, per utility
    paid: Decimal = ZERO  # net to the ESCO, settled and paid
    due: Decimal = ZERO  # approved or issued, not yet paid
    draft: int = 0  # periods drafted or submitted, not yet approved
    last_period: date | None = None
    flagged: int = 0
    guarantees: dict[str, Decimal | None] = field(default_factory=dict)
    measured: list[gs.Measurement] = field(default_factory=list)
    shortfall_lines: int = 0

    @property
    def guarantee_status(self) -> gs.GuaranteeStatus:
        """From the guarantee's own measurement (year-end settlements) only: emc.settlement.core.guarantee_status."""
        return gs.status(self.guarantees, self.measured, self.shortfall_lines, bool(self.flagged))

    @property
    def guarantee(self) -> str:
        return self.guarantee_status.state


@dataclass
class Portfolio:
    rows: list[PortfolioRow]
    total: int
    value: Decimal
    paid: Decimal
    due: Decimal
    page: int
    pages: int


SIGNED = (SettlementStatus.approved, SettlementStatus.issued, SettlementStatus.paid)


def _add(row: PortfolioRow, s: Settlement, year_ends: dict[int | None, int]) -> None:
    """One settlement's money, state, guarantee measurement and verified savings into its contract's row."""
    if s.status == SettlementStatus.paid:
        row.paid += s.net_to_esco
    elif s.status in (SettlementStatus.approved, SettlementStatus.issued):
        row.due += s.net_to_esco
    else:
        row.draft += 1
    if s.flagged and not s.flagged.startswith("adjusted"):
        row.flagged += 1
    if s.kind == "year_end" and s.version == 1:
        year_ends[s.id] = s.contract_id
        row.measured.extend(gs.measurements(s.contract_year, s.inputs, row.guarantees))
    if s.status in SIGNED and s.kind == "period" and s.version == 1:
        for key, value in s.inputs.items():
            parts = key.split(".")
            if len(parts) == 3 and parts[0] == "savings" and parts[2] == "savings":
                row.savings[parts[1]] = row.savings.get(parts[1], ZERO) + Decimal(value)
    last_day = s.last_day
    row.last_period = max(row.last_period or last_day, last_day)


def _fill_rows(session: Session, ids: list[int | None], rows: dict[int | None, PortfolioRow]) -> None:
    """The page's contracts: guarantees of their current terms, their settlements, their shortfall lines."""
    year_ends: dict[int | None, int] = {}
    for contract_id, spec in session.execute(select(ContractVersion.contract_id, ContractVersion.spec).join(
            Contract, Contract.id == ContractVersion.contract_id).where(
            Contract.id.in_(ids), ContractVersion.version == Contract.current_version)).all():
        rows[contract_id].guarantees = gs.guaranteed_components(spec)
    for s in session.execute(select(Settlement).where(Settlement.contract_id.in_(ids))
                             .order_by(Settlement.period_start)).scalars():
        _add(rows[s.contract_id], s, year_ends)
    if year_ends:
        for settlement_id, in session.execute(select(SettlementLine.settlement_id).where(
                SettlementLine.settlement_id.in_(list(year_ends)), SettlementLine.kind.in_(gs.SHORTFALL_CODES))).all():
            rows[year_ends[settlement_id]].shortfall_lines += 1


def portfolio(session: Session, scope: Scope, flt: queries.ContractFilter, today: date) -> Portfolio:
    """One page of contracts with their figures, and the paid / due totals over every contract in scope."""
    page = queries.list_contracts(session, scope, flt, today)
    ids = [r.contract.id for r in page.rows]
    rows = {r.contract.id: PortfolioRow(r) for r in page.rows}
    if ids:
        _fill_rows(session, ids, rows)
    # paid / due over every contract in scope: summed by the database, one row per status (issue 15: the page
    # no longer reads every settlement of the portfolio to add two numbers)
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    scoped = select(col(Settlement.status), func.sum(col(Settlement.net_to_esco))).join(
        Contract, col(Contract.id) == col(Settlement.contract_id)).where(
        scope.contracts(), *flt.clauses(today),
        col(Settlement.status).in_([SettlementStatus.paid, SettlementStatus.approved, SettlementStatus.issued])
    ).group_by(Settlement.status)
    for status, net in session.execute(scoped):
        totals["paid" if status == SettlementStatus.paid else "due"] += net  # Money: sum() keeps the column type
    return Portfolio([rows[i] for i in ids], page.total, page.value_total, totals["paid"], totals["due"], page.page,
                     page.pages)
